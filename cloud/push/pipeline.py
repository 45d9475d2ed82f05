"""The push side of alert delivery, in every API process.

``deliver`` is called by the dispatcher (cloud/delivery/dispatch.py) for every committed alert
with its recipients, and returns at once: the work runs in tasks of its own, at most
``max_concurrency`` requests at a time, so pushing never holds up the sockets. For each alert it
claims one row per subscription (the database lets exactly one API process insert each row, and
that process sends it), sends the claimed ones and records each answer (cloud/push/outcome.py).

``run_sweeper`` claims due retries every ``SWEEP_INTERVAL_S``, and rows whose sender died
mid-send once their lease (``LEASE_S``) has passed, and sends them the same way. When it starts
it catches up: alarms committed while no API process listened (a restart) and never pushed go
through the same claim path (``catch_up``).

A claimed row may wait for a free slot; its lease is renewed right before its request goes out,
and a row whose lease passed meanwhile (another process's sweeper took it) is left to that
process. ``close`` lets requests in flight finish (the push service may already have accepted
them: cancelling would leave them to be sent twice) and releases the rows not sent yet.

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
from cloud.push.channel import SEND_TIMEOUT_S, PushChannel, endpoint_host
from cloud.push.outcome import TTL_PASSED, decide, give_up_reason, remaining_ttl_s
from cloud.push.payload import ALARM_TTL_S, alert_payload, push_options
from cloud.push.targets import acknowledged_targets, as_sent, claims_for, is_pushed
from cloud.storage import Storage
from cloud.storage.push_records import PushDelivery, PushResult, PushStatus, PushSubscription
from cloud.storage.records import StoredAlert

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 0.5
# How long a row being sent belongs to its process: well above a request's timeout
# (cloud/push/channel.py), so only a process that died mid-send loses it.
LEASE_S = 30.0
MAX_CONCURRENCY = 64
# At most this many missed alarms are caught up at start (the newest first).
CATCH_UP_LIMIT = 500
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
        # Rows claimed whose request has not gone out yet: delivery id -> attempt.
        self._unsent: dict[int, int] = {}
        self._closing = False
        # Set once the start-up catch-up has run: from then on only the sweep takes rows up.
        self.caught_up = asyncio.Event()

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
        if not is_pushed(alert):
            return
        if alert.announcement == "acknowledged":
            self._spawn(self._acknowledged(alert, users), f"push-ack-{alert.id}")
        elif users:
            self._spawn(self._alert(alert, users), f"push-{alert.id}")

    async def _alert(self, alert: StoredAlert, users: list[int]) -> None:
        subscriptions = await self._storage.push_subscriptions_of(users)
        await self._claim_and_send(alert, subscriptions, users)

    async def _acknowledged(self, alert: StoredAlert, users: list[int]) -> None:
        rows = await self._storage.cancel_pending_push(alert.id)
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
        sends = [
            (row, by_id[row.subscription_id]) for row in rows if row.subscription_id is not None
        ]
        # return_exceptions: one send failing must not leave its siblings running untracked.
        results = await asyncio.gather(
            *(self._send(alert, row, sub) for row, sub in sends), return_exceptions=True
        )
        for (row, _sub), result in zip(sends, results, strict=True):
            if isinstance(result, Exception):
                logger.error("push %d of alert %d failed", row.id, alert.id, exc_info=result)

    async def _send(
        self, alert: StoredAlert, delivery: PushDelivery, subscription: PushSubscription
    ) -> None:
        """One attempt of one claimed row: send, then record the answer."""
        self._unsent[delivery.id] = delivery.attempts
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
            del self._unsent[delivery.id]
            await self._record(delivery, "failed", None, f"no {subscription.channel} channel")
            return
        async with self._slots:
            if self._closing:
                return  # close() releases its lease
            del self._unsent[delivery.id]
            sent_at = self._clock()
            ttl = remaining_ttl_s(options.ttl, delivery.created_at, sent_at)
            if ttl <= 0:
                await self._record(delivery, "failed", delivery.last_status, TTL_PASSED)
                return
            lease_until = sent_at + timedelta(seconds=LEASE_S)
            if not await self._storage.renew_push_lease(
                delivery.id, delivery.attempts, sent_at, lease_until
            ):
                # Its lease passed while it waited for a slot: another process took it.
                logger.info("push %d: taken over by another process; not sent here", delivery.id)
                return
            payload = await self._payload(alert, delivery, subscription)
            # A retry carries what is left of the message's life, not its whole TTL.
            outcome = await channel.send(
                subscription, payload, dataclasses.replace(options, ttl=ttl)
            )
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
        if decision.status == "accepted" and stored is not None and delivery.purpose == "alert":
            # Acknowledged while this alarm was in flight (or before its claim committed, which
            # the acknowledgement's cancel could not see), and it reached the phone anyway: the
            # phone gets "Acknowledged" too. The unique key keeps this to one per phone.
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
        """Catch up once, then send due retries (and rows whose sender died) until cancelled."""
        caught_up = False
        while True:
            # The first sleep also lets the alert listener start: an alarm committed after
            # the catch-up's read is then announced to it.
            await asyncio.sleep(SWEEP_INTERVAL_S)
            if not caught_up:
                try:
                    await self.catch_up()
                    caught_up = True
                    self.caught_up.set()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("push catch-up failed; trying again")
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

    async def catch_up(self) -> int:
        """Push the alarms of the last ``ALARM_TTL_S`` that never were: committed while no API
        process listened (LISTEN/NOTIFY keeps nothing), or whose claim died with its process.
        Several processes doing this at once send each push once (the claims' unique key).
        Returns how many alerts were taken up."""
        since = self._clock() - timedelta(seconds=ALARM_TTL_S)
        alerts = await self._storage.unpushed_alarms(since, CATCH_UP_LIMIT)
        for alert in alerts:
            if alert.escalation_level > 0:
                # Its targets were named by the escalation, which is gone; the next
                # escalation (or the acknowledgement) announces it again.
                continue
            users = await self._storage.alert_recipients(alert)
            if users:
                self._spawn(self._alert(alert, users), f"push-catch-up-{alert.id}")
        if alerts:
            logger.info("push catch-up: %d alarm(s) not pushed yet", len(alerts))
        return len(alerts)

    async def close(self, wait_s: float = SEND_TIMEOUT_S) -> None:
        """Stop sending. Requests in flight may finish for up to ``wait_s`` (the push service
        may have taken them already: cancelling would have them sent twice); rows claimed but
        not sent yet are released, due now, for another process or the next start."""
        self._closing = True
        if self._tasks:
            _done, pending = await asyncio.wait(list(self._tasks), timeout=wait_s)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._unsent:
            leases = list(self._unsent.items())
            self._unsent.clear()
            try:
                await self._storage.release_push_leases(leases, self._clock())
            except Exception:
                logger.exception("releasing %d unsent push(es) failed", len(leases))
