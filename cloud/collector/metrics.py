"""The collector's Prometheus metrics, in a registry of its own (the one process-wide count is
``nursery_collector_rule_failures``: see cloud.alerting.RuleFailureCount)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from cloud.alerting import RULE_FAILURES
from cloud.storage.records import IngestBatch, IngestResult

BATCH_SIZE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 3000, 5000)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 300.0, 3600.0, 86400.0)


class CollectorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = LoopCounter("nursery_collector_messages", "MQTT messages received", "kind")
        r.register(self.messages)
        self.rows = Counter(
            "nursery_collector_rows_stored", "New rows committed", ["kind"], registry=r
        )
        self.duplicates = Counter(
            "nursery_collector_duplicates", "Messages already stored (redeliveries)", registry=r
        )
        self.dead_letters = Counter(
            "nursery_collector_dead_letters", "Messages kept as dead letters", registry=r
        )
        self.decode_errors = Counter(
            "nursery_collector_decode_errors",
            "Messages dead-lettered because decoding failed unexpectedly (a bug)", registry=r,
        )  # fmt: skip
        self.unstorable = Counter(
            "nursery_collector_unstorable_messages",
            "Messages dead-lettered because storing them kept failing (a bug)", registry=r,
        )  # fmt: skip
        self.dead_letters_pruned = Counter(
            "nursery_collector_dead_letters_pruned", "Dead letters deleted by retention",
            registry=r,
        )  # fmt: skip
        self.alerts = Counter("nursery_collector_alerts", "Alerts raised", ["kind"], registry=r)
        self.escalations = Counter(
            "nursery_collector_escalations", "Unacknowledged alarms escalated", registry=r
        )
        self.batches = Counter("nursery_collector_batches", "Batches committed", registry=r)
        self.storage_errors = Counter(
            "nursery_collector_storage_errors", "Failed batch writes (retried)", registry=r
        )
        self.task_restarts = Counter(
            "nursery_collector_task_restarts",
            "Background tasks (offline check, escalation) restarted after a crash",
            ["task"],
            registry=r,
        )
        # Counted where the rules run (cloud.alerting), inside the storage backends.
        r.register(RuleFailures())
        self.batch_size = Histogram(
            "nursery_collector_batch_size", "Messages per batch", buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "nursery_collector_commit_seconds", "Time to write and commit one batch",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.lag_seconds = LoopHistogram(
            "nursery_collector_lag_seconds", "Server receive time minus device time", LAG_BUCKETS,
        )  # fmt: skip
        r.register(self.lag_seconds)
        self.in_flight = Gauge(
            "nursery_collector_in_flight", "Messages received, not yet committed", registry=r
        )
        self.failed_database_jobs = Gauge(
            "nursery_database_failed_jobs",
            "Database background jobs (TimescaleDB compression, retention, aggregate refresh)"
            " whose last run failed",
            registry=r,
        )

    def received(self, kind: str) -> None:
        self.messages.inc(kind)

    def committed(self, batch: IngestBatch, result: IngestResult, seconds: float) -> None:
        self.batches.inc()
        self.batch_size.observe(len(batch))
        self.commit_seconds.observe(seconds)
        self.rows.labels("telemetry").inc(result.readings_stored)
        self.rows.labels("event").inc(result.events_stored)
        self.rows.labels("status").inc(result.statuses_applied)
        self.rows.labels("config_reported").inc(result.reported_applied)
        self.dead_letters.inc(result.dead_letters)
        self.duplicates.inc(result.duplicates)
        for alert in result.alerts:
            self.alerts.labels(alert.kind).inc()

    def observe_lag(self, device_time: datetime, received_at: datetime) -> None:
        self.lag_seconds.observe(max((received_at - device_time).total_seconds(), 0.0))


class RuleFailures:
    """One device's rule evaluation raised and was skipped, its data stored regardless."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "nursery_collector_rule_failures",
            "Rule evaluations of one device that raised and were skipped (data still stored)",
        )
        family.add_metric([], float(RULE_FAILURES.count))
        yield family


class LoopCounter:
    """A labelled counter incremented from one event-loop thread (see LoopHistogram): every
    received message counts, and prometheus_client's Counter takes a lock per increment."""

    def __init__(self, name: str, documentation: str, label: str) -> None:
        self._name = name
        self._documentation = documentation
        self._label = label
        self._counts: dict[str, int] = {}

    def inc(self, value: str) -> None:
        self._counts[value] = self._counts.get(value, 0) + 1

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=[self._label])
        for value, count in sorted(self._counts.items()):
            family.add_metric([value], float(count))
        yield family


class LoopHistogram:
    """A histogram observed from one event-loop thread (and read by /metrics on the same loop).

    Every received message is observed; prometheus_client's Histogram takes two locks per
    observation, which showed up at several percent of the collector in the ingest profile.
    Here an observation is a bisect and two additions; the exposition is the same.
    """

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = sorted(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le = "<=").
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self._name, self._documentation)
        buckets, cumulative = [], 0
        for bound, count in zip([*self._bounds, float("inf")], self._counts, strict=True):
            cumulative += count
            buckets.append((_le(bound), float(cumulative)))
        family.add_metric([], buckets, self._sum)
        yield family


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))
