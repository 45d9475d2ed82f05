"""Rate limits: ``LoginThrottle`` (the login policy: per source with backoff, per account
paced), ``LoginRateLimiter`` (a plain sliding window per key: failed device claims per user,
registrations per address) and ``source_key`` (what counts as one client address).

All state lives in this process's memory: with several API processes behind a load balancer
each enforces the limits separately (documented in docs/operations.md), which still bounds an
attacker to ``processes x limit`` attempts per window.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable


def source_key(host: str) -> str:
    """The limiter key of a client address: IPv4 as is, IPv6 by its /64 - one subscriber is
    usually given a whole /64, and would otherwise get a fresh budget per address in it."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


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


class _Source:
    """One client address's recent failed logins and how often it has used them all up."""

    __slots__ = ("blocked_until", "failures", "last_failure", "strikes")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.strikes = 0
        self.blocked_until = 0.0
        self.last_failure = 0.0


class _Account:
    """One account's recent failed logins (from any address) and its next paced slot."""

    __slots__ = ("failures", "next_slot")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.next_slot = 0.0


class LoginThrottle:
    """The login policy: per-source limits with exponential backoff, and a per-account limit
    that slows guessing without locking the owner out.

    - A client address may fail ``max_failures`` logins per ``window_s``. When it has used them
      up it is refused for ``window_s``; each time it uses them up again before its record is
      cleared the refusal doubles, up to ``max_block_s``. A success from the address, or
      ``max_block_s`` without a failure, clears the record.
    - An account that has failed ``max_failures`` logins per ``window_s`` (from any addresses)
      is paced, not locked: one attempt per ``window_s / max_failures`` seconds is let through,
      so nobody waits longer than that pace for the account's next attempt. Attempts refused
      for their address never reach the account, so a blocked attacker stops slowing it; only
      many addresses guessing at once keep it paced. A success clears the account.

    Attempts are counted before the password is checked (a success is forgiven afterwards), so
    concurrent requests cannot all pass before the first failure is recorded.
    """

    def __init__(
        self,
        max_failures: int,
        window_s: float = 60.0,
        max_block_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._max_failures = max_failures
        self._window_s = window_s
        self._max_block_s = max_block_s
        self.account_pace_s = window_s / max_failures
        self._clock = clock
        self._max_keys = max_keys
        self._sources: dict[str, _Source] = {}
        self._accounts: dict[str, _Account] = {}
        self._lock = threading.Lock()

    def attempt(self, source: str, account: str) -> None:
        """Count one login attempt, or raise RateLimitedError with how long to wait."""
        now = self._clock()
        with self._lock:
            if len(self._sources) + len(self._accounts) >= self._max_keys:
                self._forget_idle(now)
            source_state = self._sources.setdefault(source, _Source())
            self._check_source(source_state, now)
            account_state = self._accounts.setdefault(account, _Account())
            self._expire(account_state.failures, now)
            if len(account_state.failures) >= self._max_failures:
                if now < account_state.next_slot:
                    raise RateLimitedError(math.ceil(account_state.next_slot - now))
                account_state.next_slot = now + self.account_pace_s
            source_state.failures.append(now)
            source_state.last_failure = now
            account_state.failures.append(now)

    def succeeded(self, source: str, account: str) -> None:
        """The attempt counted by ``attempt`` was a correct password: clear the account and
        the address's backoff; the address keeps other clients' failures (a shared NAT)."""
        with self._lock:
            self._accounts.pop(account, None)
            source_state = self._sources.get(source)
            if source_state is not None:
                if source_state.failures:
                    source_state.failures.pop()
                source_state.strikes = 0

    def _check_source(self, state: _Source, now: float) -> None:
        if now < state.blocked_until:
            raise RateLimitedError(math.ceil(state.blocked_until - now))
        if state.strikes and now - state.last_failure >= self._max_block_s:
            state.strikes = 0
        self._expire(state.failures, now)
        if len(state.failures) >= self._max_failures:
            block = min(self._window_s * 2**state.strikes, self._max_block_s)
            state.strikes += 1
            state.failures.clear()
            state.blocked_until = now + block
            raise RateLimitedError(math.ceil(block))

    def _expire(self, failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - self._window_s:
            failures.popleft()

    def _forget_idle(self, now: float) -> None:
        # Bounded memory under a spray of addresses or e-mails: drop what no longer limits.
        horizon = now - self._max_block_s
        for key in [
            k
            for k, s in self._sources.items()
            if s.blocked_until <= now and s.last_failure <= horizon
        ]:
            del self._sources[key]
        for key in [
            k
            for k, a in self._accounts.items()
            if (not a.failures or a.failures[-1] <= now - self._window_s) and a.next_slot <= now
        ]:
            del self._accounts[key]
