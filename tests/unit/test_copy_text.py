"""The COPY text encoding the collector's batches are written with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud.storage.postgres.copy_text import copy_text


def test_rows_become_tab_separated_lines_with_nulls_and_iso_times() -> None:
    at = datetime(2026, 11, 23, 2, 0, 0, 125000, tzinfo=UTC)
    data = copy_text([(at, "dev-1", 7, 20.5, None, True), (at, "dev-2", 8, -1e-05, 3.0, False)])
    assert data == (
        b"2026-11-23T02:00:00.125000+00:00\tdev-1\t7\t20.5\t\\N\tt\n"
        b"2026-11-23T02:00:00.125000+00:00\tdev-2\t8\t-1e-05\t3.0\tf\n"
    )


def test_text_escapes_what_the_copy_format_would_misread() -> None:
    assert copy_text([("a\\b\tc\nd\re",)]) == b"a\\\\b\\tc\\nd\\re\n"


def test_no_rows_is_no_data() -> None:
    assert copy_text([]) == b""


def test_an_unknown_type_is_refused_rather_than_guessed() -> None:
    with pytest.raises(TypeError):
        copy_text([(b"raw",)])
