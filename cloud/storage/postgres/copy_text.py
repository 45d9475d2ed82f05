"""Rows encoded for ``COPY ... FROM STDIN`` (text format) in one piece.

psycopg's ``write_row`` formats each row through its dumpers, several microseconds a row, and
was the single largest cost of storing a collector batch in the ingest profile
(docs/performance.md, "Collector ingest"); the batch's rows are few types (text, integers,
floats, timestamps), which format directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

NULL = "\\N"


def _text(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):
        # The text format's own escapes; device ids and kinds never contain these.
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return (
                value.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)  # shortest round-tripping form; PostgreSQL reads inf and nan too
    raise TypeError(f"no COPY text form for {type(value).__name__}")


def copy_text(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """The COPY text-format payload of ``rows``: tab-separated columns, one line per row."""
    lines = ["\t".join([_text(value) for value in row]) for row in rows]
    lines.append("")
    return "\n".join(lines).encode()
