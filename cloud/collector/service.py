"""The collector process: a gmqtt MQTT 5 subscriber that stores what devices send.

Delivery guarantee: the broker keeps a QoS 1 message until we PUBACK it. With
``optimistic_acknowledgement=False`` gmqtt sends no PUBACK of its own; QoS 1 messages are taken
from gmqtt by ``BatchAcknowledger`` (cloud/collector/acks.py) and acknowledged only after the
batch holding them is committed, so a crash at any point before the commit leaves the message
with the broker, which redelivers it on reconnect (persistent session: ``clean_session=False``
with a session expiry). The database ignores a ``(device_id, seq)`` it already has, so
redelivery never stores twice.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from cloud.collector.acks import BatchAcknowledger, Receipt
from cloud.collector.batcher import Batcher, BatchPolicy
from cloud.collector.decode import UNEXPECTED, IngestItem, to_ingest_item
from cloud.collector.metrics import CollectorMetrics
from cloud.collector.supervisor import Readiness, RestartPolicy, TaskSupervisor
from cloud.config import CollectorSettings
from cloud.storage import Storage, StorageError
from cloud.storage.dead_letter_plan import DeadLetterRetention
from cloud.storage.records import (
    DeadLetter,
    EventRow,
    ReportedConfigRow,
    StatusRow,
    TelemetryRow,
)
from models.contract import MessageKind, TimeWindow
from models.contract.topics import subscription_filter

logger = logging.getLogger(__name__)

QOS_AT_LEAST_ONCE = 1
PERIODIC_STOP_S = 5.0
COLLECTED_KINDS = (
    MessageKind.TELEMETRY,
    MessageKind.EVENT,
    MessageKind.STATUS,
    MessageKind.REPORTED_CONFIG,
)


# The label of each kind of message (its topic's last levels): "telemetry", ..., "config_reported".
_KIND_LABELS: dict[type, str] = {
    TelemetryRow: "telemetry",
    EventRow: "event",
    StatusRow: "status",
    ReportedConfigRow: "config_reported",
}


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        storage: Storage,
        metrics: CollectorMetrics | None = None,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._storage = storage
        self.metrics = metrics or CollectorMetrics()
        self._window = TimeWindow(max_ahead=timedelta(seconds=settings.max_clock_ahead_s))
        self._retention = DeadLetterRetention(
            timedelta(days=settings.dead_letter_retention_days), settings.dead_letter_max_rows
        )
        self._client = gmqtt.Client(
            settings.client_id,
            clean_session=False,
            optimistic_acknowledgement=False,
            session_expiry_interval=settings.session_expiry_s,
            receive_maximum=settings.max_in_flight,
        )
        # Mosquitto ignores the client's Receive Maximum; the acknowledger bounds in-flight work.
        self._acks = BatchAcknowledger(self._client, self._on_qos_1, settings.max_in_flight)
        self._acks.install()
        self._batcher: Batcher[Receipt | None] = Batcher(
            storage.ingest,
            BatchPolicy(
                settings.batch_max_items, settings.batch_max_delay_s, settings.concurrent_batches
            ),
            self.metrics.committed,
            self._on_stored,
            self._on_abandoned,
            self._on_write_failed,
            lambda letter: self.metrics.unstorable.inc(),
        )
        self.metrics.in_flight.set_function(lambda: self._acks.in_flight)
        # Only QoS 0 deliveries still come through gmqtt's handler: nothing to acknowledge.
        self._client.on_message = self._on_qos_0
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self.connected = asyncio.Event()
        # Set by stop(). The periodic checks end on it between queries: cancelling one
        # mid-query made psycopg cancel it server-side, and a second cancellation at loop
        # shutdown closed the connection with a warning.
        self._stopping = asyncio.Event()
        # The periodic checks run under it: restarted when they crash, seen in readiness.
        self._supervisor = TaskSupervisor(self._stopping, self._on_task_restart, restart_policy)

    @property
    def committed_rows(self) -> int:
        """New rows committed so far (for progress displays and tests)."""
        return int(sum(
            sample.value
            for metric in self.metrics.rows.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        ))  # fmt: skip

    async def start(self) -> None:
        # Everything alive by now (modules, settings, the pool) lives as long as the process.
        # Frozen, the cyclic GC stops re-scanning it: under load the in-flight messages keep
        # promoting objects to the oldest generation, and each full collection then walked
        # these ~50,000 objects too, stalling the event loop for up to 77 ms
        # (docs/performance.md, "Eighth round").
        gc.freeze()
        self._batcher.start()
        mqtt = self._settings.mqtt
        if mqtt.username:
            self._client.set_auth_credentials(mqtt.username, mqtt.password)
        tls: ssl.SSLContext | bool = False
        if mqtt.ca_file:
            tls = ssl.create_default_context(cafile=mqtt.ca_file)
        await self._client.connect(mqtt.host, mqtt.port, ssl=tls, version=MQTTv50)
        for name, periodic in (
            ("offline_check", self._check_offline_periodically),
            ("escalation", self._escalate_periodically),
            ("dead_letter_retention", self._prune_dead_letters_periodically),
            ("database_jobs", self._check_database_jobs_periodically),
        ):
            self.metrics.task_restarts.labels(name)  # exposed at 0 from the start
            self._supervisor.start(name, periodic)

    async def stop(self) -> None:
        """Commit what is pending (so its PUBACKs go out), then disconnect."""
        self._stopping.set()
        periodic = self._supervisor.tasks
        if periodic:
            # A check waiting on an unreachable database is not waited out.
            _done, pending = await asyncio.wait(periodic, timeout=PERIODIC_STOP_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*periodic, return_exceptions=True)
        await self._batcher.stop()
        await self._client.disconnect()

    def readiness(self) -> Readiness:
        """Ready while connected to the broker, storing batches and with every periodic check
        running; otherwise the reasons (the ops endpoint's /readyz)."""
        problems = {f"task {name}": why for name, why in self._supervisor.problems().items()}
        if not self.connected.is_set():
            problems["broker"] = "not connected"
        batcher_problem = self._batcher.problem()
        if batcher_problem is not None:
            problems["batcher"] = batcher_problem
        return Readiness(self.connected.is_set(), problems)

    def _on_task_restart(self, name: str) -> None:
        self.metrics.task_restarts.labels(name).inc()

    def _on_write_failed(self, error: Exception) -> None:
        self.metrics.storage_errors.inc()

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: Any) -> None:
        # Subscribing on every (re)connect is harmless with a persistent session and needed
        # when the broker lost it.
        for kind in COLLECTED_KINDS:
            topic = subscription_filter(kind, self._settings.share_group)
            client.subscribe(gmqtt.Subscription(topic, qos=QOS_AT_LEAST_ONCE))
        self.connected.set()
        logger.info("collector %s connected", self._settings.client_id)

    def _on_disconnect(
        self, client: gmqtt.Client, packet: Any, exc: Exception | None = None
    ) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            logger.warning("collector disconnected from the broker; gmqtt reconnects")

    def _on_qos_1(self, topic: str, raw: bytes, receipt: Receipt) -> None:
        self._batcher.add(self._decode(topic, raw), receipt)

    def _on_qos_0(
        self, client: gmqtt.Client, topic: str, raw: bytes, qos: int, properties: Any
    ) -> None:
        self._batcher.add(self._decode(topic, raw), None)

    def _decode(self, topic: str, raw: bytes) -> IngestItem:
        received_at = datetime.now(UTC)
        item = to_ingest_item(topic, raw, received_at, self._window)
        if isinstance(item, DeadLetter):
            self.metrics.received("dead_letter")
            if item.error.startswith(UNEXPECTED):
                self.metrics.decode_errors.inc()
                logger.error("dead letter on %s: %s", item.topic, item.error)
            else:
                logger.info("dead letter on %s: %s", item.topic, item.error)
        else:
            self.metrics.received(_KIND_LABELS[type(item)])
            self.metrics.observe_lag(item.time, received_at)
        return item

    def _on_stored(self, receipts: list[Receipt | None]) -> None:
        self._acks.acknowledge([receipt for receipt in receipts if receipt is not None])

    def _on_abandoned(self, receipts: list[Receipt | None]) -> None:
        self._acks.release([receipt for receipt in receipts if receipt is not None])

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the collector is stopping."""
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _escalate_periodically(self) -> None:
        """Unacknowledged alarms go one caregiver further when their time has come. Every
        collector runs this; the storage hands each due alarm to one of them."""
        while True:
            if await self._stopped_within(self._settings.escalation_check_interval_s):
                return
            try:
                escalated = await self._storage.escalate_due(datetime.now(UTC))
            except StorageError as exc:
                logger.warning("escalation check failed: %s", exc)
                continue
            for alert in escalated:
                logger.info(
                    "alert %d (%s) escalated to level %d", alert.id, alert.kind,
                    alert.escalation_level,
                )  # fmt: skip
                self.metrics.escalations.inc()

    async def _prune_dead_letters_periodically(self) -> None:
        """Retention of dead letters: once at start, then every interval. Every collector of a
        group runs it; deleting what another one deleted already deletes nothing."""
        while True:
            now = datetime.now(UTC)
            try:
                pruned = await self._storage.prune_dead_letters(
                    self._retention.cutoff(now), self._retention.max_rows
                )
            except StorageError as exc:
                logger.warning("dead-letter retention failed: %s", exc)
            else:
                if pruned:
                    logger.info("deleted %d dead letters by retention", pruned)
                    self.metrics.dead_letters_pruned.inc(pruned)
            if await self._stopped_within(self._settings.dead_letter_prune_interval_s):
                return

    async def _check_database_jobs_periodically(self) -> None:
        """A failing TimescaleDB job (compression, retention, aggregate refresh) breaks nothing
        at once, so it is a metric and a warning, not unreadiness."""
        reported: list[str] = []
        while True:
            if await self._stopped_within(self._settings.offline_check_interval_s):
                return
            try:
                failed = await self._storage.failed_background_jobs()
            except StorageError as exc:
                logger.warning("database job check failed: %s", exc)
                continue
            self.metrics.failed_database_jobs.set(len(failed))
            if failed and failed != reported:
                logger.warning("database background jobs failing: %s", "; ".join(failed))
            reported = failed

    async def _check_offline_periodically(self) -> None:
        while True:
            if await self._stopped_within(self._settings.offline_check_interval_s):
                return
            try:
                alerts = await self._storage.check_offline(datetime.now(UTC))
            except StorageError as exc:
                logger.warning("offline check failed: %s", exc)
                continue
            for alert in alerts:
                self.metrics.alerts.labels(alert.kind).inc()
