"""Hear what a component only logs: the last problem it reported while a check ran."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class LastProblem(logging.Handler):
    """Keeps the newest DEBUG or ERROR record: components log each failed attempt at DEBUG
    (routine, counted) and the unexpected at ERROR; INFO/WARNING are state changes, not causes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if logging.INFO <= record.levelno < logging.ERROR:
            return
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {record.exc_info[1]}"
        self.message = message


@contextmanager
def last_problem(logger_name: str) -> Iterator[LastProblem]:
    """Route ``logger_name``'s records (DEBUG included) to a ``LastProblem`` while inside.

    They are kept off the console meanwhile: the check shows the problem in its table, and
    DEBUG chatter would otherwise reach the root handler, which does not filter by level.
    """
    logger = logging.getLogger(logger_name)
    handler = LastProblem()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
