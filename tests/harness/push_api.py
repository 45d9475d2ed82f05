"""``nursery-cloud api`` processes with Web Push configured towards a ``LocalPushService``.

The settings are the ones a test deployment uses (docs/api.md, "Push notifications"): the
server's VAPID key, a mailto: subject, endpoints allowed on 127.0.0.1 over plain http.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cloud.push.keys import VapidKeyPair
from tests.harness.api_process import start_api

VAPID_SUBJECT = "mailto:test@example.org"


def push_env(keys: VapidKeyPair) -> dict[str, str]:
    """The API's push settings for endpoints on a local push service."""
    return {
        "NURSERY_VAPID_PRIVATE_KEY": keys.private_key,
        "NURSERY_VAPID_SUBJECT": VAPID_SUBJECT,
        "NURSERY_PUSH_ENDPOINT_HOSTS": "127.0.0.1",
        "NURSERY_PUSH_ALLOW_HTTP": "true",
    }


class PushApiProcess:
    """One API process; ``url`` once it listens. Stop it with ``stop_cleanly``."""

    def __init__(
        self,
        database_url: str,
        jwt_secret: str,
        keys: VapidKeyPair,
        log_path: Path,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        api = start_api(
            database_url,
            jwt_secret,
            log_path.parent,
            env={**push_env(keys), **(extra_env or {})},
            log_name=log_path.name,
        )
        self.port, self.url, self.process = api.port, api.url, api.process

    def wait_ready(self) -> PushApiProcess:
        self.process.wait_for_port(self.port)
        return self

    def output(self) -> str:
        return self.process.output()

    def stop_cleanly(self) -> bool:
        return self.process.stop_cleanly()
