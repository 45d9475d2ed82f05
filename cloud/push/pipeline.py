"""The push side of alert delivery, in every API process.

``deliver`` is called by the dispatcher (cloud/delivery/dispatch.py) for every committed alert
with its recipients, and returns at once: the work runs in tasks of its own, at most
``max_concurrency`` requests at a time, so pushing never holds up the sockets. For each alert it
claims one row per subscription (the database lets exactly one API process insert each row, and
that process sends it), sends the claimed ones and records each answer (cloud/push/outcome.py).

``run_sweeper`` claims due retries every ``SWEEP_INTERVAL_S``, and rows whose sender died
mid-send once their lease (``LEASE_S``) has passed, and sends them the same way.

An acknowledgement cancels the alarm's pending pushes and tells every phone that got the alarm
(cloud/push/targets.py). A push in flight when the alarm was acknowledged is cancelled too; if
the push service accepted it anyway, that phone gets the acknowledgement as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.push.ack_token import AckTokens
from cloud.push.channel import PushChannel, endpoint_host
from cloud.push.outcome import decide, give_up_reason
from cloud.push.payload import alert_payload, push_options
from cloud.push.targets import acknowledged_targets, as_sent, claims_for
from cloud.storage import Storage
from cloud.storage.push_records import PushDelivery, PushResult, PushStatus, PushSubscription
from cloud.storage.records import StoredAlert

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 0.5
# How long a row being sent belongs to its process: well above a request's timeout
# (cloud/push/channel.py), so only a process that died mid-send loses it.
LEASE_S = 30.0
MAX_CONCURRENCY = 64
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PushPipeline:
    def __init__(
        self,
        storage: Storage,
        channels: Mapping[str, PushChannel],
        ack_tokens: AckTokens,
        max_concurrency: int = MAX_CONCURRENCY,
        clock: Clock = _utc_now,
    ) -> None:
        self._storage = storage
        self._channels = dict(channels)
        self._ack_tokens = ack_tokens
        self._clock = clock
        self._max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sending = 0
        self.accepted = 0

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("push work failed", exc_info=task.exception())

    def deliver(self, alert: StoredAlert, users: list[int]) -> None:
        """Push ``alert`` to ``users`` in the background; never blocks, never raises."""
        if alert.announcement == "acknowledged":
            self._spawn(self._acknowledged(alert, users), f"push-ack-{alert.id}")
        elif users:
            self._spawn(self._alert(alert, users), f"push-{alert.id}")

    async def _alert(self, alert: StoredAlert, users: list[int]) -> None:
        subscriptions = await self._storage.push_subscriptions_of(users)
        await self._claim_and_send(alert, subscriptions, users)

    async def _acknowledged(self, alert: StoredAlert, users: list[int]) -> None:
        rows = await self._storage.cancel_pending_push(alert.id, self._clock())
        targets = acknowledged_targets(rows)
        if targets:
            subscriptions = await self._storage.get_push_subscriptions(targets)
            await self._claim_and_send(alert, subscriptions, users)

    async def _claim_and_send(
        self, alert: StoredAlert, subscriptions: list[PushSubscription], users: list[int]
    ) -> None:
        claims = claims_for(alert, subscriptions, set(users), self._channels)
        if not claims:
            return
        now = self._clock()
        rows = await self._storage.claim_push_deliveries(
            claims, now, now + timedelta(seconds=LEASE_S)
        )
        by_id = {sub.id: sub for sub in subscriptions}
        await asyncio.gather(*(
            self._send(alert, row, by_id[row.subscription_id])
            for row in rows
            if row.subscription_id is not None
        ))  # fmt: skip

    async def _send(
        self, alert: StoredAlert, delivery: PushDelivery, subscription: PushSubscription
    ) -> None:
        """One attempt of one claimed row: send, then record the answer."""
        self._sending += 1
        try:
            await self._attempt(alert, delivery, subscription)
        finally:
            self._sending -= 1

    async def _attempt(
        self, alert: StoredAlert, delivery: PushDelivery, subscription: PushSubscription
    ) -> None:
        channel = self._channels.get(subscription.channel)
        options = push_options(alert)
        if channel is None:
            await self._record(delivery, "failed", None, f"no {subscription.channel} channel")
            return
        async with self._slots:
            payload = await self._payload(alert, delivery, subscription)
            outcome = await channel.send(subscription, payload, options)
        now = self._clock()
        decision = decide(outcome, delivery.attempts, now, delivery.created_at, options.ttl)
        host = endpoint_host(subscription.endpoint)
        if outcome.status == 403:
            logger.warning(
                "push to subscription %d (%s) refused with 403: VAPID key mismatch?",
                subscription.id, host,
            )  # fmt: skip
        elif decision.status != "accepted":
            logger.info(
                "push %d of alert %d to subscription %d (%s): %s (%s)",
                delivery.id, alert.id, subscription.id, host, decision.status, decision.error,
            )  # fmt: skip
        stored = await self._storage.record_push_result(
            PushResult(
                delivery.id, delivery.attempts, decision.status, now,
                decision.next_attempt_at, outcome.status, decision.error,
            )
        )  # fmt: skip
        if decision.status == "accepted":
            self.accepted += 1
            if stored == "cancelled" and delivery.purpose == "alert":
                # Acknowledged while this alarm was in flight, and it reached the phone anyway.
                await self._follow_up(alert.id, subscription)

    async def _follow_up(self, alert_id: int, subscription: PushSubscription) -> None:
        alert = await self._storage.get_alert(alert_id)
        if alert is None or alert.acknowledged_at is None:
            return
        acknowledged = dataclasses.replace(alert, announcement="acknowledged")
        await self._claim_and_send(acknowledged, [subscription], [subscription.user_id])

    async def _payload(
        self, alert: StoredAlert, delivery: PushDelivery, subscription: PushSubscription
    ) -> bytes:
        if alert.announcement == "acknowledged":
            taker = None
            if alert.acknowledged_by is not None:
                taker = await self._storage.get_user(alert.acknowledged_by)
            name = None if taker is None else taker.name
            return alert_payload(alert, ack_token=None, acknowledged_by_name=name)
        token = None
        if alert.needs_ack:
            generations = await self._storage.session_generations([subscription.user_id])
            generation = generations.get(subscription.user_id)
            if generation is not None:
                token = self._ack_tokens.issue(
                    user_id=subscription.user_id,
                    alert_id=alert.id,
                    subscription_id=subscription.id,
                    generation=generation,
                )
        return alert_payload(alert, ack_token=token)

    async def _record(
        self, delivery: PushDelivery, status: PushStatus, code: int | None, error: str
    ) -> None:
        await self._storage.record_push_result(
            PushResult(delivery.id, delivery.attempts, status, self._clock(), None, code, error)
        )

    # --- retries ---------------------------------------------------------------------------

    async def run_sweeper(self) -> None:
        """Send due retries (and rows whose sender died) until cancelled."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("push retry sweep failed")

    async def sweep(self) -> int:
        """Claim what is due now, as much as there is room for (a claimed row waiting for a
        free slot would only burn its lease), and start sending it; returns how many rows
        were claimed."""
        room = self._max_concurrency - self._sending
        if room <= 0:
            return 0
        now = self._clock()
        jobs = await self._storage.claim_due_push_deliveries(
            now, now + timedelta(seconds=LEASE_S), room
        )
        alerts: dict[int, StoredAlert | None] = {}
        for job in jobs:
            delivery = job.delivery
            if delivery.alert_id not in alerts:
                alerts[delivery.alert_id] = await self._storage.get_alert(delivery.alert_id)
            alert = alerts[delivery.alert_id]
            if job.subscription is None or alert is None:
                await self._record(delivery, "failed", None, "subscription or alert deleted")
                continue
            if delivery.purpose == "alert" and alert.acknowledged_at is not None:
                await self._record(delivery, "cancelled", None, "acknowledged")
                continue
            ttl = push_options(alert).ttl
            reason = give_up_reason(delivery.attempts, now, delivery.created_at, ttl)
            if reason is not None:
                await self._record(delivery, "failed", delivery.last_status, reason)
                continue
            self._spawn(
                self._send(as_sent(alert, delivery), delivery, job.subscription),
                f"push-retry-{delivery.id}",
            )
        return len(jobs)

    async def close(self) -> None:
        """Stop sending: rows in flight stay ``sending`` and another process (or this one's
        next start) retries them once their lease passes."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
