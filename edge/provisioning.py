"""The installer's side of provisioning: ask the cloud for a new device identity.

``POST /installer/devices`` with an installer's access token returns the device id, its broker
password, the claim code and the broker's address (and CA). Plain ``urllib`` on purpose: the
device needs no HTTP library for this one call.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TIMEOUT_S = 15.0


class ProvisioningError(RuntimeError):
    """The cloud refused or could not be reached; the message says what to do."""


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: str
    mqtt_username: str
    mqtt_password: str = field(repr=False)
    claim_code: str = field(repr=False)
    claim_expires_at: datetime
    broker_host: str
    broker_port: int
    ca_certificate: str | None


class CloudClient:
    def __init__(self, base_url: str, ca_file: str | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ProvisioningError(
                f"--cloud must start with https:// (or http://), got {base_url!r}"
            )
        self._base_url = base_url.rstrip("/")
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def login(self, email: str, password: str) -> str:
        """An access token for the installer account."""
        body = self._call("POST", "/auth/login", {"email": email, "password": password})
        return str(body["access_token"])

    def provision(self, token: str) -> DeviceIdentity:
        body = self._call("POST", "/installer/devices", None, token)
        return DeviceIdentity(
            device_id=body["device_id"],
            mqtt_username=body["mqtt_username"],
            mqtt_password=body["mqtt_password"],
            claim_code=body["claim_code"],
            claim_expires_at=datetime.fromisoformat(body["claim_expires_at"]),
            broker_host=body["broker_host"],
            broker_port=int(body["broker_port"]),
            ca_certificate=body.get("ca_certificate"),
        )

    def _call(
        self, method: str, path: str, payload: dict[str, Any] | None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(payload).encode()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        url = self._base_url + path
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - scheme checked in __init__
        try:
            with urllib.request.urlopen(  # noqa: S310 - scheme checked in __init__
                request, timeout=TIMEOUT_S, context=self._context
            ) as response:
                document: dict[str, Any] = json.load(response)
                return document
        except urllib.error.HTTPError as exc:
            raise ProvisioningError(_explain(exc.code, _detail(exc), path)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProvisioningError(
                f"cannot reach {self._base_url}: {reason}; check --cloud, the network and DNS"
            ) from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(exc).get("detail", ""))
    except (ValueError, AttributeError):
        return ""


def _explain(code: int, detail: str, path: str) -> str:
    if code == 401:
        if path == "/auth/login":
            return "the cloud refused the e-mail or password"
        return "the installer token was refused (expired?): log in again or pass a new --token"
    if code == 403:
        return (
            "this account is not an installer account; ask the operator to run "
            "`nursery-cloud user set-role <email> installer`"
        )
    if code == 429:
        return f"too many attempts: {detail or 'wait a minute and try again'}"
    return f"the cloud answered {code} on {path}: {detail or 'no details'}"
