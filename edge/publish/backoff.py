"""Reconnect delays: capped exponential backoff with jitter.

Jitter matters when a broker restarts: without it every device in a city reconnects in the same
second, again and again. Each delay is drawn uniformly from ``[delay * (1 - jitter), delay]``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial_s: float = 1.0
    max_s: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError("need 0 < initial_s <= max_s")
        if self.multiplier < 1.0:
            raise ValueError("multiplier must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")


class Backoff:
    """Successive delays for one run of failed attempts; ``reset()`` after a success."""

    def __init__(self, policy: BackoffPolicy, rng: random.Random | None = None) -> None:
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - spreading reconnects, not secrets
        self._attempts = 0

    def next_delay(self) -> float:
        policy = self._policy
        # The exponent is capped so that a broker down for a week cannot overflow the float.
        exponent = min(self._attempts, 64)
        ceiling = min(policy.max_s, policy.initial_s * policy.multiplier**exponent)
        self._attempts += 1
        return ceiling * (1.0 - policy.jitter * self._rng.random())

    def reset(self) -> None:
        self._attempts = 0

    @property
    def attempts(self) -> int:
        return self._attempts
