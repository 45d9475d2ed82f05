"""Web Push settings (docs/api.md, "Push notifications"), read from the environment by
``ApiSettings.from_env`` (cloud/config.py). Apart from cloud/config.py because checking the key
loads cryptography and py-vapid, which only the API needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cloud.config import ConfigError
from cloud.push.endpoints import is_host_name, is_ip_address
from cloud.push.keys import application_server_key, vapid_signer

# Where browsers' push subscriptions point: Chrome/Edge (FCM), Firefox (Mozilla autopush),
# Safari (Apple), legacy Edge (WNS). A subscription elsewhere is refused (SSRF guard).
DEFAULT_PUSH_ENDPOINT_HOSTS = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.apple.com",
    "notify.windows.com",
)
# What py-vapid accepts as the VAPID "sub" claim (RFC 8292 section 2.1): a mailto: address or
# an https origin without a path.
_VAPID_SUBJECT = re.compile(
    r"mailto:[^@\s]+@(localhost|[\w%-]+(\.[\w%-]+)+)|https://(localhost|[\w-]+(\.[\w-]+)+)",
    re.IGNORECASE,
)
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def _push_hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("NURSERY_PUSH_ENDPOINT_HOSTS", "")
    if not raw.strip():
        return DEFAULT_PUSH_ENDPOINT_HOSTS
    hosts = tuple(host.strip().lower().strip(".") for host in raw.split(",") if host.strip())
    for host in hosts:
        if not is_ip_address(host) and not is_host_name(host):
            raise ConfigError(
                "NURSERY_PUSH_ENDPOINT_HOSTS must list host names or IP addresses separated by "
                f"commas (no scheme, port or path), got {host!r}"
            )
    if not hosts:
        raise ConfigError("NURSERY_PUSH_ENDPOINT_HOSTS names no host")
    return hosts


def _flag(env: Mapping[str, str], key: str) -> bool:
    raw = env.get(key, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE or raw == "":
        return False
    raise ConfigError(f"{key} must be true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Web Push (docs/api.md, "Push notifications"). Set ``NURSERY_VAPID_PRIVATE_KEY`` (from
    ``nursery-cloud push-keys``) and ``NURSERY_VAPID_SUBJECT`` to enable it."""

    # base64url of the raw 32-byte P-256 private value: a secret, kept out of repr and logs.
    vapid_private_key: str = field(repr=False)
    # Who runs this server, for the push services' operators: mailto:... or https://...
    vapid_subject: str
    # Host suffixes a subscription's endpoint may point at (the SSRF guard).
    endpoint_hosts: tuple[str, ...] = DEFAULT_PUSH_ENDPOINT_HOSTS
    # http:// endpoints and any port (cloud/push/endpoints.py): tests and local development.
    allow_http: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PushSettings | None:
        private_key = env.get("NURSERY_VAPID_PRIVATE_KEY", "").strip()
        if not private_key:
            return None
        try:
            application_server_key(private_key)
        except ValueError as exc:
            raise ConfigError(
                f"NURSERY_VAPID_PRIVATE_KEY cannot be read: {exc}; generate a key pair with "
                "`nursery-cloud push-keys`"
            ) from None
        subject = env.get("NURSERY_VAPID_SUBJECT", "").strip()
        if not subject:
            raise ConfigError(
                "NURSERY_VAPID_SUBJECT is required when NURSERY_VAPID_PRIVATE_KEY is set: "
                "mailto:<operator address> or https://<your site>, so push services can reach "
                "the operator"
            )
        if not _VAPID_SUBJECT.fullmatch(subject):
            raise ConfigError(
                "NURSERY_VAPID_SUBJECT must be mailto:<address> or https://<host> (no path), "
                f"got {subject!r}"
            )
        # The signer checks the subject again when it signs: refuse here what it would refuse
        # at the first alarm.
        try:
            vapid_signer(private_key).sign({"sub": subject, "aud": "https://push.example.org"})
        except Exception as exc:  # py-vapid raises its own VapidException, untyped
            raise ConfigError(f"NURSERY_VAPID_SUBJECT is refused by the signer: {exc}") from None
        return cls(
            vapid_private_key=private_key,
            vapid_subject=subject,
            endpoint_hosts=_push_hosts(env),
            allow_http=_flag(env, "NURSERY_PUSH_ALLOW_HTTP"),
        )
