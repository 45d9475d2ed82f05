"""Polling for a condition with a deadline, instead of sleeping a guessed amount of time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s}s")
        time.sleep(interval_s)


async def wait_until_async(
    condition: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.05
) -> bool:
    """``wait_until`` for async tests, without blocking the loop; says whether it came true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(interval_s)
    return condition()


async def eventually(
    probe: Callable[[], Awaitable[T]], timeout_s: float = 10.0, interval_s: float = 0.25
) -> T:
    """Await ``probe`` until it gives a truthy result and return that; TimeoutError otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await probe()
        if result:
            return result
        await asyncio.sleep(interval_s)
    raise TimeoutError(f"not within {timeout_s} s")
