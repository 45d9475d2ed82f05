"""How busy the whole machine was over a stretch of a benchmark, from Linux's /proc/stat.

A benchmark whose load generator shares the cores with what it measures needs to say when the
machine, not the code, set a result: ``busy_cores`` is the CPU time all processes used over the
stretch (user, nice, system, irq, softirq, steal), in cores. None where /proc/stat is missing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PROC_STAT = Path("/proc/stat")
IDLE_FIELDS = (3, 4)  # idle, iowait in the "cpu" line (after the label)
COUNTED_FIELDS = 8  # user nice system idle iowait irq softirq steal; guest time is inside user


def _read_stat() -> list[str] | None:
    try:
        return PROC_STAT.read_text().splitlines()
    except OSError:
        return None


def _busy_ticks() -> int | None:
    lines = _read_stat()
    if not lines:
        return None
    fields = [int(value) for value in lines[0].split()[1 : 1 + COUNTED_FIELDS]]
    return sum(fields) - sum(fields[index] for index in IDLE_FIELDS)


def cores_counted() -> int | None:
    """How many CPUs /proc/stat sums over (a container may see the host's, not its own)."""
    lines = _read_stat()
    if lines is None:
        return None
    return sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())


class MachineCpu:
    """Start at construction; ``busy_cores()`` is the average since then."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._ticks = _busy_ticks()

    def busy_cores(self) -> float | None:
        now = _busy_ticks()
        elapsed = self._clock() - self._started
        if now is None or self._ticks is None or elapsed <= 0:
            return None
        return (now - self._ticks) / os.sysconf("SC_CLK_TCK") / elapsed
