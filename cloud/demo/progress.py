"""What the demo shows while it runs, asked of its own API as the parents' app would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from cloud.demo.state import DEMO_EMAIL, DEMO_PASSWORD

TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Progress:
    readings: int
    cries: int
    alerts: int
    cry_alerts: int

    def line(self) -> str:
        return (
            f"readings stored: {self.readings} · cries detected: {self.cries} · "
            f"alerts sent: {self.alerts} ({self.cry_alerts} cry)"
        )


class DemoApi:
    """A client of the demo's own API on localhost (fixed http:// URLs, hence the S310s)."""

    def __init__(self, port: int) -> None:
        self._base = f"http://127.0.0.1:{port}"
        self._token: str | None = None

    def _call(self, path: str, body: object = None) -> object:
        headers = {"Content-Type": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._base + path, data=data, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return json.load(response)

    def progress(self) -> Progress:
        try:
            return self._progress()
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise
            self._token = None  # the access token expired: log in again
            return self._progress()

    def _progress(self) -> Progress:
        if self._token is None:
            login = self._call("/auth/login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
            assert isinstance(login, dict)
            self._token = str(login["access_token"])
        stats = self._call("/health/stats")
        alerts = self._call("/alerts?limit=1000")
        assert isinstance(stats, dict)
        assert isinstance(alerts, list)
        return Progress(
            readings=int(stats["total_records"]),
            cries=int(stats["cry_detected_count"]),
            alerts=len(alerts),
            cry_alerts=sum(1 for alert in alerts if alert["kind"] == "CRY_DETECTED"),
        )
