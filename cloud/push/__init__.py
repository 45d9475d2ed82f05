"""Web Push (docs/api.md, "Push notifications"): the building blocks the delivery pipeline uses.

One purpose per module: ``keys`` (the server's VAPID key pair), ``endpoints`` (which
subscriptions may be registered: the SSRF guard and the browser's keys), ``payload`` (what a
notification says and its push headers), ``ack_token`` (the token that acknowledges an alarm
from the notification). Nothing is imported here, so importing one module loads only its own.
"""
