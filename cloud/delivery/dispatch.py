"""The one place committed alerts go out from, in every API process.

``Storage.listen_alerts`` yields each committed alert (raised, escalated, acknowledged) to every
API process. ``AlertDispatcher`` resolves its recipients once and hands the alert to each
channel: the sockets this process holds (cloud/api/realtime.py) and push (cloud/push/pipeline.py).
A channel's ``deliver`` must return at once - it queues or starts its own work - so a slow push
service never delays a socket, and one channel failing never stops another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from cloud.storage import Storage
from cloud.storage.records import StoredAlert

logger = logging.getLogger(__name__)

LISTEN_RETRY_S = 2.0

Recipients = Callable[[StoredAlert], Awaitable[list[int]]]


class AlertChannel(Protocol):
    def deliver(self, alert: StoredAlert, users: list[int]) -> None:
        """Take ``alert`` for ``users``; must not block."""
        ...


def fixed_audience(alert: StoredAlert) -> list[int] | None:
    """Whom an announcement names itself: an escalation goes to its ``targets`` (down the
    caregiver order); None when the recipients must be looked up."""
    return list(alert.targets) if alert.announcement == "escalated" else None


class AlertDispatcher:
    def __init__(
        self, storage: Storage, recipients: Recipients, channels: Sequence[AlertChannel]
    ) -> None:
        self._storage = storage
        self._recipients = recipients
        self._channels = list(channels)

    async def run(self) -> None:
        """Listen for committed alerts until cancelled; reconnect when the listener fails."""
        while True:
            try:
                async for alert in self._storage.listen_alerts():
                    await self.dispatch(alert)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("alert listener failed; retrying in %.0f s", LISTEN_RETRY_S)
            await asyncio.sleep(LISTEN_RETRY_S)

    async def dispatch(self, alert: StoredAlert) -> None:
        users = fixed_audience(alert)
        if users is None:
            try:
                users = await self._recipients(alert)
            except Exception:
                logger.exception("cannot resolve recipients of alert %d", alert.id)
                return
        for channel in self._channels:
            try:
                channel.deliver(alert, users)
            except Exception:
                logger.exception("%s could not take alert %d", type(channel).__name__, alert.id)
