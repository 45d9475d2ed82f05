"""Deciding where a device's data has gaps (pure; the backends run the queries).

Two kinds, both stored so that the app can say "no data 02:10-02:25, device offline" instead of
drawing a flat line:

- ``offline``: from the device's last message before its offline status (the broker's last
  will, or a clean goodbye) until it says ``online`` again. The outbox then replays what the
  device recorded meanwhile; once stored readings cover the stretch without a hole longer than
  a few telemetry intervals, the gap is closed (back-filled) and no longer shown. A device that
  was switched off has nothing to replay: its gap stays.
- ``missing_messages``: sequence numbers that never arrived (every stream message carries the
  device's next number). Late arrivals close it; telemetry the device's full outbox dropped
  never arrives, so that gap stays.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

# A stretch counts as covered when no two consecutive readings (and neither edge) are further
# apart than this many telemetry intervals.
COVERAGE_INTERVALS = 3.0
DEFAULT_TELEMETRY_INTERVAL_S = 10.0
# A ``missing_messages`` gap filled within this long of being opened was reordering, not a
# loss: with several collectors in one shared-subscription group the broker deals each device's
# messages out in turn, so every batch skips numbers another member is committing at the same
# moment. Such a gap is deleted instead of kept as "back-filled", which would otherwise add a
# closed row for about every other message.
REORDER_WINDOW_S = 30.0


def missing_ranges(known_max_seq: int | None, new_seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Inclusive ranges of sequence numbers above ``known_max_seq`` that this batch skipped.

    Only numbers above what was stored before count: a lower one is a late or replayed message,
    not a new hole. A device seen for the first time starts where its first message is (it may
    have been installed elsewhere first).
    """
    above = sorted({seq for seq in new_seqs if known_max_seq is None or seq > known_max_seq})
    ranges = []
    previous = known_max_seq if known_max_seq is not None else (above[0] - 1 if above else 0)
    for seq in above:
        if seq > previous + 1:
            ranges.append((previous + 1, seq - 1))
        previous = seq
    return ranges


def max_spacing(telemetry_interval_s: float | None) -> timedelta:
    interval = telemetry_interval_s or DEFAULT_TELEMETRY_INTERVAL_S
    return timedelta(seconds=COVERAGE_INTERVALS * interval)


def covered(times: Sequence[datetime], start: datetime, end: datetime, spacing: timedelta) -> bool:
    """Whether reading times (any order) fill ``start``..``end`` with no hole over ``spacing``."""
    inside = sorted(t for t in times if start <= t <= end)
    if not inside:
        return end - start <= spacing
    edges = [start, *inside, end]
    return all(later - earlier <= spacing for earlier, later in itertools.pairwise(edges))
