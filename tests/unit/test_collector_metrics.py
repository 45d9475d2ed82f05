"""The collector's lag histogram keeps Prometheus histogram semantics (cumulative, le = <=)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import generate_latest

from cloud.collector.metrics import CollectorMetrics

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def test_lag_is_exposed_as_a_cumulative_histogram() -> None:
    metrics = CollectorMetrics()
    for seconds in (0.01, 0.02, 2.0, -3.0, 100_000.0):  # -3: a device clock ahead counts as 0
        metrics.observe_lag(T0, T0 + timedelta(seconds=seconds))
    text = generate_latest(metrics.registry).decode()
    assert 'nursery_collector_lag_seconds_bucket{le="0.01"} 2.0' in text
    assert 'nursery_collector_lag_seconds_bucket{le="0.05"} 3.0' in text
    assert 'nursery_collector_lag_seconds_bucket{le="5.0"} 4.0' in text
    assert 'nursery_collector_lag_seconds_bucket{le="86400.0"} 4.0' in text
    assert 'nursery_collector_lag_seconds_bucket{le="+Inf"} 5.0' in text
    assert "nursery_collector_lag_seconds_count 5.0" in text
    assert "nursery_collector_lag_seconds_sum 100002.03" in text


def test_received_messages_are_counted_per_kind() -> None:
    metrics = CollectorMetrics()
    for kind in ("telemetry", "telemetry", "dead_letter"):
        metrics.received(kind)
    text = generate_latest(metrics.registry).decode()
    assert 'nursery_collector_messages_total{kind="telemetry"} 2.0' in text
    assert 'nursery_collector_messages_total{kind="dead_letter"} 1.0' in text
