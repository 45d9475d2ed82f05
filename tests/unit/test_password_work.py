"""Where argon2 runs (cloud.api.password_work): password changes share the registrations' narrow
lane, so a signed-in user looping `/auth/password` cannot fill every hashing thread."""

from __future__ import annotations

import asyncio
import threading

from cloud.api.password_work import PasswordWork
from cloud.api.security import PasswordHasher


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting how many hashes run at once."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0

    def hash(self, password: str) -> str:
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            return super().hash(password)
        finally:
            with self._lock:
                self._running -= 1


async def test_password_changes_hash_one_at_a_time_and_leave_a_thread_to_logins() -> None:
    hasher = CountingHasher()
    work = PasswordWork(hasher, threads=2, registration_lanes=1, registration_queue=8)
    try:
        hashes = await asyncio.gather(*(work.hash_for_change(f"new-{i}") for i in range(4)))
        assert len(set(hashes)) == 4
        assert hasher.most_at_once == 1
        assert all(hasher.verify(f"new-{i}", h) for i, h in enumerate(hashes))
    finally:
        work.close()
