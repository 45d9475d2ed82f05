"""SampleRing: order, the capacity bound, drop-oldest overflow, timeouts, and two threads."""

from __future__ import annotations

import threading
import time

import numpy as np
import numpy.typing as npt
import pytest

from edge.audio.ring import SampleRing


def _ramp(start: int, count: int) -> npt.NDArray[np.float32]:
    return np.arange(start, start + count, dtype=np.float32)


def test_reads_come_out_in_write_order_across_the_wrap() -> None:
    ring = SampleRing(8)
    ring.write(_ramp(0, 6))
    first = ring.read(4, timeout_s=0.0)
    assert first is not None
    np.testing.assert_array_equal(first.samples, _ramp(0, 4))
    ring.write(_ramp(6, 5))  # wraps: the array holds 4..5 at the end, 6..10 from the start
    rest = ring.read(100, timeout_s=0.0)
    assert rest is not None
    np.testing.assert_array_equal(rest.samples, _ramp(4, 7))
    assert ring.size == 0
    assert ring.dropped_samples == 0


def test_read_takes_at_most_max_samples_and_reports_the_backlog() -> None:
    clock_now = [5.0]
    ring = SampleRing(10, clock=lambda: clock_now[0])
    clock_now[0] = 7.5
    ring.write(_ramp(0, 7))
    got = ring.read(3, timeout_s=0.0)
    assert got is not None
    np.testing.assert_array_equal(got.samples, _ramp(0, 3))
    assert got.backlog == 4
    assert got.written_at == 7.5
    assert got.samples.dtype == np.float32


def test_size_never_exceeds_capacity() -> None:
    ring = SampleRing(16)
    for start in range(0, 200, 7):
        ring.write(_ramp(start, 7))
        assert ring.size <= ring.capacity == 16


def test_overflow_drops_the_oldest_and_counts_them() -> None:
    ring = SampleRing(10)
    assert ring.write(_ramp(0, 8)) == 0
    assert ring.write(_ramp(8, 5)) == 3  # 13 samples into 10: 0, 1, 2 go
    got = ring.read(100, timeout_s=0.0)
    assert got is not None
    np.testing.assert_array_equal(got.samples, _ramp(3, 10))
    assert ring.dropped_samples == 3
    assert ring.overflows == 1


def test_a_write_larger_than_the_ring_keeps_its_newest_samples() -> None:
    ring = SampleRing(4)
    ring.write(_ramp(0, 2))
    assert ring.write(_ramp(2, 10)) == 8  # the 2 buffered and the first 6 new ones
    got = ring.read(100, timeout_s=0.0)
    assert got is not None
    np.testing.assert_array_equal(got.samples, _ramp(8, 4))
    assert ring.dropped_samples == 8


def test_read_times_out_with_none() -> None:
    ring = SampleRing(4)
    began = time.monotonic()
    assert ring.read(4, timeout_s=0.05) is None
    assert time.monotonic() - began >= 0.04


def test_close_wakes_a_waiting_reader_and_refuses_writes() -> None:
    ring = SampleRing(4)
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(ring.read(4, timeout_s=10.0)))
    reader.start()
    time.sleep(0.05)
    ring.close()
    reader.join(timeout=2.0)
    assert not reader.is_alive()
    assert results == [None]
    assert ring.write(_ramp(0, 2)) == 0
    assert ring.size == 0


def test_reset_reopens_an_empty_ring_but_keeps_the_counters() -> None:
    ring = SampleRing(2)
    ring.write(_ramp(0, 3))
    ring.close()
    ring.reset()
    assert ring.size == 0
    assert not ring.closed
    ring.write(_ramp(10, 1))
    got = ring.read(2, timeout_s=0.0)
    assert got is not None
    np.testing.assert_array_equal(got.samples, [10.0])
    assert ring.dropped_samples == 1


def test_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SampleRing(0)
    with pytest.raises(ValueError, match="max_samples"):
        SampleRing(4).read(0, timeout_s=0.0)


def test_producer_and_consumer_threads_lose_nothing_when_it_never_fills() -> None:
    ring = SampleRing(1024)
    block, blocks = 100, 2000
    received: list[npt.NDArray[np.float32]] = []

    def produce() -> None:
        for index in range(blocks):
            while ring.capacity - ring.size < block:  # stay below full: this test is not overflow
                time.sleep(0)
            ring.write(_ramp(index * block, block))

    def consume() -> None:
        count = 0
        while count < block * blocks:
            got = ring.read(333, timeout_s=5.0)
            assert got is not None
            received.append(got.samples)
            count += len(got.samples)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30.0)
    assert not any(thread.is_alive() for thread in threads)
    np.testing.assert_array_equal(np.concatenate(received), _ramp(0, block * blocks))
    assert ring.dropped_samples == 0
