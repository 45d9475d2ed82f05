"""The benchmark's machine-wide CPU reading: busy time from /proc/stat, idle and iowait left out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.benchmarks import machine_cpu
from tests.benchmarks.machine_cpu import MachineCpu, cores_counted

# user nice system idle iowait irq softirq steal guest guest_nice
BEFORE = "cpu  1000 20 500 9000 300 10 40 30 0 0\ncpu0 500 10 250 4500 150 5 20 15 0 0\n"
AFTER = "cpu  1300 20 650 9400 500 10 50 30 0 0\ncpu0 650 10 325 4700 250 5 25 15 0 0\n"


def test_busy_cores_counts_every_busy_field_and_not_idle_or_iowait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stat = tmp_path / "stat"
    stat.write_text(BEFORE)
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(machine_cpu, "PROC_STAT", stat)
    cpu = MachineCpu(clock=lambda: next(clock))
    stat.write_text(AFTER)
    # busy ticks: user +300, system +150, softirq +10 = 460; idle +400 and iowait +200 excluded
    expected = 460 / os.sysconf("SC_CLK_TCK") / 2.0
    assert cpu.busy_cores() == pytest.approx(expected)
    assert cores_counted() == 1


def test_no_reading_without_proc_stat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine_cpu, "PROC_STAT", tmp_path / "missing")
    assert MachineCpu().busy_cores() is None
    assert cores_counted() is None


def test_this_machine_reads_at_least_the_work_done_here() -> None:
    cpu = MachineCpu()
    end = os.times().elapsed + 0.3
    while os.times().elapsed < end:  # keep one core busy for 0.3 s
        pass
    busy = cpu.busy_cores()
    assert busy is not None
    cores = cores_counted()
    assert cores is not None
    assert cores >= 1
    assert 0.5 <= busy <= cores + 0.1
