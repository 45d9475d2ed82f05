"""Cloud log output: JSON lines carry time, level, logger and message as fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from cloud.logs import configure_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_json_format_is_one_object_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("cloud.collector.test").info("stored %d rows", 42)
    logging.getLogger("cloud.collector.test").debug("not shown at INFO")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "INFO"
    assert record["logger"] == "cloud.collector.test"
    assert record["message"] == "stored 42 rows"
    assert "time" in record


@pytest.mark.usefixtures("restore_root_logger")
def test_text_format_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "text")
    logging.getLogger("cloud.api").warning("careful")
    assert capsys.readouterr().err.rstrip().endswith("WARNING cloud.api: careful")
