"""Where argon2 runs: a small thread pool of its own, with registrations in a narrow lane.

argon2 is deliberately expensive (tens of milliseconds of a core and 64 MiB per hash). Run in
the event loop's default executor, a flood of registrations queued hundreds of hashes ahead of
every login. Here registrations (and password changes) hash at most ``registration_lanes`` at
a time and at most ``registration_queue`` wait; beyond that one is refused at once (503 with
Retry-After), so a login waits behind at most the registrations already hashing.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from cloud.api.security import PasswordHasher

# What a refused registration is told to wait: a queue of registrations drains in seconds.
BUSY_RETRY_AFTER_S = 5


class HashingBusyError(Exception):
    """Too many registrations are already waiting to hash a password."""

    def __init__(self, retry_after_s: int = BUSY_RETRY_AFTER_S) -> None:
        super().__init__(f"password hashing is busy; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class PasswordWork:
    def __init__(
        self,
        hasher: PasswordHasher,
        threads: int = 2,
        registration_lanes: int = 1,
        registration_queue: int = 32,
    ) -> None:
        if registration_lanes >= threads:
            raise ValueError("registrations must leave at least one hashing thread to logins")
        self._hasher = hasher
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="password-hashing")
        self._registration_lanes = asyncio.Semaphore(registration_lanes)
        self._registration_queue = registration_queue
        self._registrations = 0  # hashing or waiting for a lane

    @property
    def registrations_pending(self) -> int:
        return self._registrations

    async def hash_for_registration(self, password: str) -> str:
        """The argon2 hash of a new account's password; raises HashingBusyError when the
        registration queue is full."""
        if self._registrations >= self._registration_queue:
            raise HashingBusyError()
        self._registrations += 1
        try:
            async with self._registration_lanes:
                return await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._hasher.hash, password
                )
        finally:
            self._registrations -= 1

    async def hash_for_change(self, password: str) -> str:
        """The argon2 hash of a signed-in user's new password. It takes the registrations'
        narrow lane (and their queue bound: HashingBusyError when full), so a user looping
        password changes cannot fill every hashing thread and delay logins."""
        return await self.hash_for_registration(password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """A login's check (a dummy hash when the account is unknown: same cost)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._hasher.verify, password, password_hash
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
