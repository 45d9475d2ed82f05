"""Sequence numbers increase, are never reused, and survive a restart."""

from __future__ import annotations

from pathlib import Path

from edge.publish.sequence import SequenceCounter


def test_numbers_increase_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "seq.sqlite3"
    counter = SequenceCounter(path)
    assert counter.last_assigned() == -1
    assert [counter.take() for _ in range(3)] == [0, 1, 2]
    counter.close()
    reopened = SequenceCounter(path)
    assert reopened.last_assigned() == 2
    assert reopened.take() == 3
    reopened.close()
