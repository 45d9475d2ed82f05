"""Keeping the collector's long-lived tasks alive: a task that raises is logged, counted and
started again after a backoff, and readiness says so while it is down or crashing repeatedly.

Before this, an unexpected exception in the periodic offline check ended it silently: no more
DEVICE_OFFLINE for any nursery until the process was restarted, while ``/readyz`` said ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Readiness:
    broker_connected: bool
    # What keeps the collector from being ready, by part ("broker", "task offline_check", ...).
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    # More restarts than this within the window is a crash loop: not ready until it calms down.
    crash_loop_restarts: int = 3
    crash_loop_window_s: float = 600.0


@dataclass(slots=True)
class _TaskState:
    name: str
    restarts: deque[float]
    task: asyncio.Task[None] | None = None
    waiting_to_restart: bool = False
    last_error: str | None = None


class TaskSupervisor:
    """Runs named coroutines until ``stopping`` is set; each is started again whenever it
    raises. A coroutine that returns is done (it returns only when stopping)."""

    def __init__(
        self,
        stopping: asyncio.Event,
        on_restart: Callable[[str], None],
        policy: RestartPolicy | None = None,
    ) -> None:
        self._stopping = stopping
        self._on_restart = on_restart
        self._policy = policy or RestartPolicy()
        self._states: dict[str, _TaskState] = {}

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        state = _TaskState(name, deque())
        self._states[name] = state
        state.task = asyncio.create_task(self._keep_running(state, run), name=name)

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return [state.task for state in self._states.values() if state.task is not None]

    def problems(self) -> dict[str, str]:
        """Per task that is not healthy, why: waiting to be restarted, or restarted more than
        the policy allows within its window. Empty when all are running normally."""
        now = time.monotonic()
        window = self._policy.crash_loop_window_s
        problems = {}
        for name, state in self._states.items():
            recent = sum(1 for at in state.restarts if now - at <= window)
            if state.waiting_to_restart:
                problems[name] = f"crashed ({state.last_error}); restarting"
            elif recent > self._policy.crash_loop_restarts:
                problems[name] = (
                    f"restarted {recent} times in the last {window:.0f} s "
                    f"(last error: {state.last_error})"
                )
            elif state.task is not None and state.task.done() and not self._stopping.is_set():
                problems[name] = "stopped"
        return problems

    async def _keep_running(self, state: _TaskState, run: Callable[[], Awaitable[None]]) -> None:
        backoff = self._policy.initial_backoff_s
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.last_error = f"{type(exc).__name__}: {exc}"[:300]
                logger.exception("background task %s crashed; restarting it", state.name)
            # A task that ran well for longer than the longest backoff starts over from the
            # shortest one; one that keeps crashing waits longer each time.
            if time.monotonic() - started > self._policy.max_backoff_s:
                backoff = self._policy.initial_backoff_s
            now = time.monotonic()
            state.restarts.append(now)
            while now - state.restarts[0] > self._policy.crash_loop_window_s:
                state.restarts.popleft()
            self._on_restart(state.name)
            state.waiting_to_restart = True
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
                return
            except TimeoutError:
                pass
            finally:
                state.waiting_to_restart = False
            backoff = min(backoff * 2, self._policy.max_backoff_s)
