"""QoS 1 deliveries taken from gmqtt without a task per message, acknowledged in batches.

With ``optimistic_acknowledgement=False`` gmqtt runs the message handler as one asyncio task per
message and, when each task returns, writes that message's PUBACK on its own (one socket send
per message). Profiled while draining a backlog, that machinery - task, future, done-callback
and send per message - cost more than validating the message and storing it (see
docs/performance.md, "Collector ingest"). This adapter replaces only that step of gmqtt: a
QoS 1 PUBLISH is handed synchronously to ``deliver`` together with a receipt, and ``acknowledge``
later sends the PUBACKs of a whole committed batch in one write.

This is the one module that knows gmqtt internals (the package handler's QoS 1 step, the
connection object); ``install`` fails loudly if a gmqtt upgrade moved them.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable
from typing import Any

import gmqtt

logger = logging.getLogger(__name__)

# MQTT 5 allows the short PUBACK (reason code Success, no properties): type, length 2, packet id.
_PUBACK = struct.Struct("!BBH")
_PUBACK_TYPE = 0x40

# Which connection a message came on, and its packet id there.
Receipt = tuple[Any, int]
Deliver = Callable[[str, bytes, Receipt], None]


class BatchAcknowledger:
    """Delivers QoS 1 messages to ``deliver`` and PUBACKs them when told they are committed.

    A packet id is only meaningful on the connection it arrived on: after a reconnect the broker
    re-sends what was not acknowledged and may reuse the ids, so a late acknowledgement of a
    message from an earlier connection is dropped instead of sent (it could otherwise
    acknowledge a different, uncommitted message; the redelivered copy is acknowledged when its
    own batch commits).

    Mosquitto does not honour our Receive Maximum, so the bound on messages between receipt and
    commit is kept here: at ``limit`` the socket stops being read (TCP pushes back to the broker,
    which keeps the messages queued) until acknowledgements bring the count below it again.
    Packets already read from the socket are still delivered, so the count can pass the limit
    by what one read buffer holds.
    """

    def __init__(self, client: gmqtt.Client, deliver: Deliver, limit: int) -> None:
        self._client = client
        self._deliver = deliver
        self._limit = limit
        self.in_flight = 0
        self._paused: Any = None  # the connection whose reading we paused
        self.acks_sent = 0
        self.acks_dropped = 0

    def install(self) -> None:
        handler = getattr(self._client, "_package_handler", None)
        if handler is None or not hasattr(handler, "_handle_qos_1_publish_packet"):
            raise RuntimeError("this gmqtt version has no QoS 1 publish step to take over")
        handler._handle_qos_1_publish_packet = self._on_qos_1

    def _on_qos_1(self, mid: int, payload: bytes, topic: str, properties: Any) -> None:
        connection = self._client._connection
        # Counted once delivered: if deliver raised, gmqtt logs it and the message, never
        # acknowledged, comes back from the broker on the next connection.
        self._deliver(topic, payload, (connection, mid))
        self.in_flight += 1
        if self.in_flight >= self._limit:
            self._pause(connection)

    def acknowledge(self, receipts: Iterable[Receipt]) -> None:
        """The messages behind ``receipts`` are committed: PUBACK them in one write."""
        current = self._client._connection
        mids = []
        count = 0
        for connection, mid in receipts:
            count += 1
            if connection is current:
                mids.append(mid)
        self.in_flight -= count
        if mids and current is not None and not current.is_closing():
            current.send_package(b"".join([_PUBACK.pack(_PUBACK_TYPE, 2, mid) for mid in mids]))
            self.acks_sent += len(mids)
        else:
            mids = []
        dropped = count - len(mids)
        if dropped:
            self.acks_dropped += dropped
            logger.info("%d committed messages from an earlier connection not acknowledged "
                        "(the broker redelivers them; they are stored once)", dropped)  # fmt: skip
        if self.in_flight < self._limit:
            self._resume()

    def release(self, receipts: Iterable[Receipt]) -> None:
        """Given up without acknowledging (stopping): the broker keeps these messages."""
        self.in_flight -= sum(1 for _ in receipts)
        if self.in_flight < self._limit:
            self._resume()

    def _pause(self, connection: Any) -> None:
        transport = getattr(connection, "_transport", None)
        if transport is not None and not transport.is_closing():
            transport.pause_reading()  # a no-op when already paused
            self._paused = connection

    def _resume(self) -> None:
        connection, self._paused = self._paused, None
        if connection is not None:
            transport = connection._transport
            if not transport.is_closing():
                transport.resume_reading()
