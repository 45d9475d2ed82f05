"""Real-time alerts over WebSocket: every committed alert reaches each connected caregiver once.

Alerts are committed by the collector (device events, climate, presence) or by an upload, in
any process; ``Storage.listen_alerts`` delivers each to every API process (PostgreSQL
LISTEN/NOTIFY, or the in-process hub for SQLite), where the dispatcher
(cloud/delivery/dispatch.py) resolves its recipients and hands it to ``deliver``. Each process
sends it to the sockets *it* holds for the alert's recipients - so with several API processes a
caregiver connected to one of them gets it exactly once.

Live readings (the newest of each device per committed batch) go the same way to the device's
members, as ``READING`` messages.

Every socket has its own bounded queue and sender task: a slow or dead client only fills its own
queue (oldest messages dropped, counted) and never delays anyone else.

A socket lives as long as its access token (cloud/api/socket_auth.py): it is closed with 1008
when the token expires - unless the client sent a fresh one - and when the user logs out
everywhere or changes the password. That revocation is seen at once by the process that handled
it and by every other process within REVOCATION_CHECK_S, which asks the database for the
sign-in generations of the users it holds sockets for.

Alarms are acknowledged over the socket (``{"action": "ack", "alert_id": N}``) or REST; each
alert message carries the device's event time, the server's receive and commit times and the
time it was written to this socket (``times``), and that write is recorded per user and
escalation level for the delivery statistics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from cloud.api.socket_auth import (
    SESSION_ENDED,
    TOKEN_EXPIRED,
    SocketGrant,
    SocketRefused,
    auth_token,
)
from cloud.api.socket_messages import (
    alert_message,
    auth_result_message,
    heartbeat_message,
    reading_message,
    with_sent_time,
)
from cloud.storage import Storage
from cloud.storage.claim_plan import in_claim_period
from cloud.storage.records import AlertDelivery, DeviceAudience, StoredAlert, TelemetryRow

logger = logging.getLogger(__name__)

CLIENT_QUEUE_SIZE = 100
HEARTBEAT_INTERVAL_S = 25.0  # below common proxy idle timeouts (30-60 s)
LISTEN_RETRY_S = 2.0
MEMBERS_TTL_S = 30.0
SEND_TIMEOUT_S = 10.0
REVOCATION_CHECK_S = 5.0  # how long another process's socket may outlive a logout-all

DELIVERY_FLUSH_S = 0.25

# Checks a token sent on an open socket; raises SocketRefused.
Reauthorize = Callable[[str], Awaitable[SocketGrant]]
# A queued message and, for an alert, what to record once it is written: (alert id, level).
Queued = tuple[str, tuple[int, int] | None]


class ClientConnection:
    """One accepted socket: a bounded queue drained by its own sender task."""

    def __init__(
        self,
        websocket: WebSocket,
        grant: SocketGrant,
        on_sent: Callable[[AlertDelivery], None] | None = None,
    ) -> None:
        self.websocket = websocket
        self.user_id = grant.user_id
        self.grant = grant
        self.dropped = 0
        # Set (with the 1008 reason) when the socket must close: its token ended.
        self.end_reason: str | None = None
        self.ended = asyncio.Event()
        self._on_sent = on_sent
        # Serialised JSON: an alert for a thousand sockets is encoded once, not a thousand times.
        self._queue: asyncio.Queue[Queued] = asyncio.Queue(maxsize=CLIENT_QUEUE_SIZE)

    def end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
            self.ended.set()

    def offer(self, message: str, delivery: tuple[int, int] | None = None) -> None:
        """Never blocks: a full queue loses its oldest message (the client is too slow)."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait((message, delivery))

    async def send_forever(self) -> None:
        while True:
            message, delivery = await self._queue.get()
            sent_at = datetime.now(UTC)
            if delivery is not None:
                message = with_sent_time(message, sent_at)
            # A client that stops reading must not hold its sender forever. asyncio.timeout, not
            # wait_for: on 3.11 wait_for wraps every send in a new task, which measured 1.6x
            # slower at 1,000 sockets (tests/benchmarks/bench_api.py).
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self.websocket.send_text(message)
            if delivery is not None and self._on_sent is not None:
                alert_id, level = delivery
                self._on_sent(AlertDelivery(alert_id, self.user_id, level, sent_at))


class AlertBroadcaster:
    """Owns the connected sockets of this process and feeds them committed alerts."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.monotonic) -> None:
        self._storage = storage
        self._clock = clock
        self._clients: dict[int, set[ClientConnection]] = {}
        # device id -> (members and claim period, looked up at): readings arrive every few
        # seconds per device, membership changes rarely; a change shows on live readings within
        # MEMBERS_TTL_S.
        self._members: dict[str, tuple[DeviceAudience, float]] = {}
        self.delivered = 0
        self._deliveries: list[AlertDelivery] = []

    def forget_device(self, device_id: str) -> None:
        """The device changed hands through this process: look its audience up again on its
        next reading instead of serving the old family for up to MEMBERS_TTL_S."""
        self._members.pop(device_id, None)

    def connected_clients(self) -> int:
        return sum(len(clients) for clients in self._clients.values())

    async def run_readings(self) -> None:
        """Forward live readings to the devices' members until cancelled."""
        while True:
            try:
                async for row in self._storage.listen_readings():
                    await self._dispatch_reading(row)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading listener failed; retrying in %.0f s", LISTEN_RETRY_S)
            await asyncio.sleep(LISTEN_RETRY_S)

    async def _dispatch_reading(self, row: TelemetryRow) -> None:
        if not self._clients:
            return  # nobody is watching: no membership lookups either
        now = self._clock()
        cached = self._members.get(row.device_id)
        if cached is None or now - cached[1] > MEMBERS_TTL_S:
            try:
                cached = (await self._storage.device_audience(row.device_id), now)
            except Exception:
                logger.exception("cannot resolve members of device %s", row.device_id)
                return
            self._members[row.device_id] = cached
        audience = cached[0]
        # A backlog the device recorded before its current claim is nobody's to see.
        if not in_claim_period(audience.period_start, row.time, row.received_at):
            return
        message: str | None = None
        for user_id in audience.member_ids:
            for client in list(self._clients.get(user_id, ())):
                message = message or json.dumps(reading_message(row), separators=(",", ":"))
                client.offer(message)

    def deliver(self, alert: StoredAlert, users: list[int]) -> None:
        """The socket channel of the dispatcher (cloud/delivery/dispatch.py): queue ``alert``
        on every socket this process holds for ``users``; never blocks."""
        message = json.dumps(alert_message(alert), separators=(",", ":"))
        # Acknowledgements are not alerts: their writes are not delivery records.
        delivery = (
            None if alert.announcement == "acknowledged" else (alert.id, alert.escalation_level)
        )
        for user_id in users:
            for client in list(self._clients.get(user_id, ())):
                client.offer(message, delivery)
                self.delivered += 1

    def _note_delivery(self, delivery: AlertDelivery) -> None:
        self._deliveries.append(delivery)

    async def run_delivery_recorder(self) -> None:
        """Store the socket writes of alerts in batches until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(DELIVERY_FLUSH_S)
                await self._flush_deliveries()
        finally:
            with contextlib.suppress(Exception):
                await self._flush_deliveries()

    async def _flush_deliveries(self) -> None:
        if not self._deliveries:
            return
        batch, self._deliveries = self._deliveries, []
        try:
            await self._storage.record_deliveries(batch)
        except Exception:
            # Statistics only: losing a batch must not disturb the alarms themselves.
            logger.exception("cannot record %d alert deliveries", len(batch))

    async def _acknowledge(self, client: ClientConnection, text: str) -> None:
        """``{"action": "ack", "alert_id": N}`` from a client; anything else is ignored."""
        try:
            request = json.loads(text)
        except ValueError:
            return
        if not isinstance(request, dict) or request.get("action") != "ack":
            return
        alert_id = request.get("alert_id")
        if (
            not isinstance(alert_id, int)
            or isinstance(alert_id, bool)
            or not 1 <= alert_id <= 2**62
        ):
            client.offer(json.dumps({"event": "ACK_RESULT", "ok": False, "error": "alert_id"}))
            return
        taken = await self._storage.acknowledge_alert(client.user_id, alert_id, datetime.now(UTC))
        client.offer(json.dumps({"event": "ACK_RESULT", "alert_id": alert_id, "ok": bool(taken)}))

    def end_sessions(self, user_id: int, generation: int) -> None:
        """The user's sign-ins before ``generation`` ended: close their sockets now."""
        for client in list(self._clients.get(user_id, ())):
            if client.grant.generation < generation:
                client.end(SESSION_ENDED)

    async def run_revocation_check(self) -> None:
        """Close sockets whose sign-in ended on another API process, until cancelled."""
        while True:
            await asyncio.sleep(REVOCATION_CHECK_S)
            if not self._clients:
                continue
            try:
                generations = await self._storage.session_generations(list(self._clients))
            except Exception:
                logger.exception("cannot check the sign-in generations of connected users")
                continue
            for user_id, clients in list(self._clients.items()):
                current = generations.get(user_id)  # None: the account is gone
                for client in list(clients):
                    if current is None or client.grant.generation != current:
                        client.end(SESSION_ENDED)

    async def _reauthorize(self, client: ClientConnection, token: str, check: Reauthorize) -> None:
        """A fresh token on an open socket: it now lives as long as the new token."""
        try:
            grant = await check(token)
        except SocketRefused as refused:
            client.offer(json.dumps(auth_result_message(None, refused.reason)))
            return
        client.grant = grant
        client.offer(json.dumps(auth_result_message(grant.expires_at)))

    async def serve(
        self, websocket: WebSocket, grant: SocketGrant, reauthorize: Reauthorize
    ) -> None:
        """Run one authenticated, accepted socket until it closes or its token ends; an ended
        token closes it with 1008 and the reason."""
        user_id = grant.user_id
        client = ClientConnection(websocket, grant, self._note_delivery)
        self._clients.setdefault(user_id, set()).add(client)
        sender = asyncio.create_task(client.send_forever())
        ended = asyncio.create_task(client.ended.wait())
        receiver: asyncio.Task[Any] | None = None
        heard = time.monotonic()
        try:
            while not sender.done():  # a sender that failed (timeout, broken pipe) ends it
                if receiver is None:
                    # Clients may send acknowledgements, tokens or pings (text or binary, others
                    # ignored); reading also notices a close.
                    receiver = asyncio.create_task(websocket.receive())
                expires_in = (client.grant.expires_at - datetime.now(UTC)).total_seconds()
                if expires_in <= 0:
                    client.end(TOKEN_EXPIRED)
                    break
                quiet_for = HEARTBEAT_INTERVAL_S - (time.monotonic() - heard)
                done, _ = await asyncio.wait(
                    {receiver, sender, ended},
                    timeout=max(0.0, min(quiet_for, expires_in)),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if ended in done:
                    break
                if receiver not in done:
                    if time.monotonic() - heard >= HEARTBEAT_INTERVAL_S:
                        client.offer(json.dumps(heartbeat_message()))
                        heard = time.monotonic()
                    continue
                received, receiver = receiver.result(), None
                heard = time.monotonic()
                if received["type"] == "websocket.disconnect":
                    break
                text = received.get("text")
                if not text:
                    continue
                token = auth_token(text)
                if token is not None:
                    await self._reauthorize(client, token, reauthorize)
                else:
                    await self._acknowledge(client, text)
        except WebSocketDisconnect:
            pass
        finally:
            for task in (sender, ended, receiver):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            clients = self._clients.get(user_id)
            if clients is not None:
                clients.discard(client)
                if not clients:
                    del self._clients[user_id]
            if client.end_reason is not None:
                with contextlib.suppress(Exception):
                    await websocket.close(code=1008, reason=client.end_reason)
            if client.dropped:
                logger.warning(
                    "socket of user %d dropped %d message(s): too slow", user_id, client.dropped
                )
