"""docs/protocol.md must agree with models/contract: the table and every JSON example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from models.contract import DELIVERY_POLICIES, MessageKind, decode_message, topic_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TABLE_ROW = re.compile(
    r"^\| (?P<kind>[a-z/]+) \| `(?P<topic>[^`]+)` \| (?P<direction>[^|]+) \| "
    r"(?P<qos>\d) \| (?P<retain>yes|no) \| (?P<stream>yes|no) \|$"
)
SECTION = re.compile(r"^### (?P<kind>[a-z/]+)\n(?P<body>.*?)(?=^### |\Z)", re.M | re.S)
JSON_BLOCK = re.compile(r"```json\n(?P<json>.*?)```", re.S)


def _rows() -> dict[str, re.Match[str]]:
    return {m["kind"]: m for line in DOC.read_text().splitlines() if (m := TABLE_ROW.match(line))}


def test_table_lists_every_kind_with_the_codes_policy() -> None:
    rows = _rows()
    assert set(rows) == {kind.value for kind in MessageKind}
    for kind, policy in DELIVERY_POLICIES.items():
        row = rows[kind.value]
        assert row["topic"] == f"nursery/v1/<device_id>/{kind.value}"
        assert row["direction"].strip() == policy.direction.value
        assert int(row["qos"]) == policy.qos
        assert (row["retain"] == "yes") == policy.retain
        assert (row["stream"] == "yes") == policy.durable_stream


def _examples() -> dict[str, str]:
    found = {}
    for section in SECTION.finditer(DOC.read_text()):
        block = JSON_BLOCK.search(section["body"])
        assert block is not None, f"section {section['kind']} has no JSON example"
        found[section["kind"]] = block["json"]
    return found


def test_every_kind_has_a_documented_example() -> None:
    assert set(_examples()) == {kind.value for kind in MessageKind}


@pytest.mark.parametrize("kind", list(MessageKind))
def test_example_is_a_valid_payload_for_its_topic(kind: MessageKind) -> None:
    example = _examples()[kind.value]
    document = json.loads(example)
    payload = decode_message(topic_for(document["device_id"], kind), example.encode())
    # Every documented field is one the model knows: the example shows no ignored extras.
    assert set(document) <= set(type(payload).model_fields)
