"""The daemon's clock fault: the check's judgement, asked at start and every few minutes."""

from __future__ import annotations

from datetime import UTC, datetime

from edge.checks import Outcome
from edge.checks.clock import judge_clock
from edge.timesync import CHECK_INTERVAL_S, ClockMonitor, clock_problem

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Answers:
    """Stands in for timedatectl: the scripted answers, counting the questions."""

    def __init__(self, *answers: bool | None) -> None:
        self.answers = list(answers)
        self.asked = 0

    def __call__(self) -> bool | None:
        self.asked += 1
        return self.answers.pop(0)


def test_a_problem_is_what_the_installer_check_fails_on() -> None:
    epoch = datetime(1970, 1, 1, 0, 1, tzinfo=UTC)
    for now, synchronised in ((NOW, True), (NOW, None), (NOW, False), (epoch, True)):
        problem = clock_problem(now, synchronised)
        check = judge_clock(now, synchronised)
        assert (problem is not None) == (check.outcome == Outcome.FAIL)
        if problem is not None:
            assert check.detail == problem
    unsynchronised = "system time 2026-03-01 12:00:00 UTC, not synchronised by NTP"
    assert clock_problem(NOW, False) == unsynchronised
    # Cannot tell (no systemd, a container): no fault, the installer check only warns.
    assert clock_problem(NOW, None) is None


def test_the_monitor_asks_at_the_first_poll_and_then_every_interval() -> None:
    now = [0.0]
    answers = Answers(False, False, True)
    monitor = ClockMonitor(answers, wall_clock=lambda: NOW, clock=lambda: now[0])
    assert monitor.problem is None
    monitor.poll()
    assert answers.asked == 1
    assert monitor.problem is not None
    assert "not synchronised" in monitor.problem
    for step in range(1, 300):  # the main loop polls every second
        now[0] = float(step)
        monitor.poll()
    assert answers.asked == 1
    now[0] = CHECK_INTERVAL_S
    monitor.poll()
    assert answers.asked == 2
    now[0] = 2 * CHECK_INTERVAL_S
    monitor.poll()
    assert answers.asked == 3
    assert monitor.problem is None  # synchronised now: the fault clears


def test_an_implausible_year_is_a_problem_even_when_synchronisation_is_unknown() -> None:
    monitor = ClockMonitor(
        Answers(None), wall_clock=lambda: datetime(1970, 1, 1, tzinfo=UTC), clock=lambda: 0.0
    )
    monitor.poll()
    assert monitor.problem == "system time 1970-01-01 00:00:00 UTC is not plausible (before 2025)"
