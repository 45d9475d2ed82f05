"""What the detector heard, as both backends store it: a JSON list of ``{"label", "score"}``.

PostgreSQL keeps it as JSONB, SQLite as JSON text; NULL when the device named nothing, so an
episode's query can fall back from its end's labels to its start's (``coalesce``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cloud.storage.records import HeardLabel


def heard_json(heard: Sequence[HeardLabel]) -> list[dict[str, object]] | None:
    """The stored document; None (NULL) for no labels."""
    if not heard:
        return None
    return [{"label": item.label, "score": item.score} for item in heard]


def heard_text(heard: Sequence[HeardLabel]) -> str | None:
    """The stored document as JSON text (SQLite)."""
    document = heard_json(heard)
    return None if document is None else json.dumps(document)


def heard_from_stored(value: object) -> tuple[HeardLabel, ...]:
    """The labels back from the column: JSON text (SQLite), the parsed list (psycopg's JSONB)
    or NULL."""
    if value is None:
        return ()
    document = json.loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(document, list):
        raise ValueError(f"stored heard labels are not a list: {document!r}")
    return tuple(HeardLabel(str(item["label"]), float(item["score"])) for item in document)
