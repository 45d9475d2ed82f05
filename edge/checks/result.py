"""One check's verdict: what was found and, when something is wrong, what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    PASS = "PASS"  # noqa: S105 - a check outcome, not a password
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    outcome: Outcome
    detail: str
    # What the installer should do, in words they can act on; may span several lines (a list of
    # devices). Required for FAIL and WARN: a problem without a remedy leaves them stuck.
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.outcome in (Outcome.FAIL, Outcome.WARN) and not self.fix:
            raise ValueError(f"check {self.name!r}: a {self.outcome} result needs a fix")
