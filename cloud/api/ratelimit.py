"""Login rate limiting: a sliding window per client address and per account.

Per address stops one machine from guessing many accounts; per account stops many machines
from guessing one. The window lives in this process's memory: with several API processes behind
a load balancer each enforces it separately (documented in docs/operations.md), which still
bounds an attacker to ``processes x limit`` guesses per window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimitedError(Exception):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many attempts; retry after {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class LoginRateLimiter:
    def __init__(
        self,
        max_failures: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Raise RateLimitedError when any key has used up its failures in the current window."""
        now = self._clock()
        with self._lock:
            waits = [self._wait(key, now) for key in keys]
        longest = max(waits, default=0.0)
        if longest > 0:
            raise RateLimitedError(math.ceil(longest))

    def attempt(self, *keys: str) -> None:
        """Check and count one attempt atomically, before any await: concurrent requests
        cannot all pass the check before the first failure is recorded. Call ``forgive``
        when the attempt succeeds."""
        now = self._clock()
        with self._lock:
            longest = max((self._wait(key, now) for key in keys), default=0.0)
            if longest > 0:
                raise RateLimitedError(math.ceil(longest))
            if len(self._failures) >= self._max_keys:
                self._forget_expired(now)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def forgive(self, clear: str, *keys: str) -> None:
        """A counted attempt succeeded: forget ``clear`` entirely and the newest mark of
        ``keys`` (a shared address keeps the other clients' failures)."""
        with self._lock:
            self._failures.pop(clear, None)
            for key in keys:
                marks = self._failures.get(key)
                if marks:
                    marks.pop()

    def record_failure(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) >= self._max_keys:
                self._forget_expired(now)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def _wait(self, key: str, now: float) -> float:
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()
        if len(failures) < self._max_failures:
            return 0.0
        return failures[0] + self._window_s - now

    def _forget_expired(self, now: float) -> None:
        # Bounded memory under a spray of addresses: drop keys whose window has passed.
        for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - self._window_s]:
            del self._failures[key]
