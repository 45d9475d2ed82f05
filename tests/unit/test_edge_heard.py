"""What the detector heard, from its ``CryEvent`` to the event payload and ``detect --json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edge.cli.detect import event_json, event_text
from edge.daemon import EdgeAgent
from edge.detection import TimedCryEvent, heard_for_event
from models.contract import MAX_HEARD_LABELS, MessageKind, decode_message, topic_for
from models.contract import HeardLabel as WireLabel
from models.cry import CryEvent, HeardLabel
from tests.harness.edge_parts import DEVICE, agent_parts

T0 = datetime(2026, 11, 23, 2, 10, 3, tzinfo=UTC)
HEARD = (
    HeardLabel("Baby cry, infant cry", 0.93),
    HeardLabel("Whimper", 0.41),
    HeardLabel("Speech", 0.08),
)


def started(heard: tuple[HeardLabel, ...] = ()) -> CryEvent:
    return CryEvent("cry_started", 1.25, 1.6, 0.93, -28.5, heard=heard)


def test_a_cry_event_without_labels_keeps_its_old_shape() -> None:
    event = CryEvent("cry_started", 1.0, 1.5, 0.9, -30.0)
    assert event.heard == ()


def test_labels_are_kept_best_first_as_the_contract_takes_them() -> None:
    assert heard_for_event(HEARD) == [
        WireLabel(label="Baby cry, infant cry", score=0.93),
        WireLabel(label="Whimper", score=0.41),
        WireLabel(label="Speech", score=0.08),
    ]
    assert heard_for_event(()) is None


def test_labels_the_contract_would_refuse_are_fitted_not_allowed_to_lose_the_cry() -> None:
    many = tuple(HeardLabel(f"Class {n}", n / 10) for n in range(8))
    odd = (
        HeardLabel("Whimper", 1.2),
        HeardLabel("  ", 0.9),
        HeardLabel("x" * 80, 0.5),
        HeardLabel("Nul\x00led", float("nan")),
        HeardLabel("Lone \ud800 surrogate", -0.3),
    )
    fitted = heard_for_event(many)
    assert fitted is not None
    assert [h.label for h in fitted] == [f"Class {n}" for n in (7, 6, 5, 4, 3)]
    assert len(fitted) == MAX_HEARD_LABELS
    fitted = heard_for_event(odd)
    assert fitted == [
        WireLabel(label="Whimper", score=1.0),
        WireLabel(label="x" * 64, score=0.5),
        WireLabel(label="Nulled", score=0.0),
        WireLabel(label="Lone  surrogate", score=0.0),
    ]


def test_the_agent_sends_what_the_detector_heard_and_nothing_without_it(tmp_path: Path) -> None:
    agent = EdgeAgent(agent_parts(tmp_path))
    topic = topic_for(DEVICE, MessageKind.EVENT)
    with_labels = agent._event(TimedCryEvent(started(HEARD), T0), None, 12)
    document = json.loads(with_labels.to_json())
    assert document["heard"] == [
        {"label": "Baby cry, infant cry", "score": 0.93},
        {"label": "Whimper", "score": 0.41},
        {"label": "Speech", "score": 0.08},
    ]
    assert decode_message(topic, with_labels.to_json()) == with_labels
    without = agent._event(TimedCryEvent(started(), T0), None, 13)
    assert "heard" not in json.loads(without.to_json())


def test_detect_json_adds_heard_only_when_the_detector_named_something() -> None:
    plain = json.loads(event_json(started()))
    assert set(plain) == {"event", "t", "confidence"}
    labelled = json.loads(event_json(started(HEARD)))
    assert set(labelled) == {"event", "t", "confidence", "heard"}
    assert labelled["heard"][0] == {"label": "Baby cry, infant cry", "score": 0.93}
    ended = CryEvent("cry_ended", 9.0, 12.0, 0.95, -25.0, duration_s=7.75, heard=HEARD[:1])
    assert set(json.loads(event_json(ended))) == {"event", "t", "duration_s", "heard"}
    assert event_text(started(HEARD)).endswith(
        "heard: Baby cry, infant cry 0.93, Whimper 0.41, Speech 0.08"
    )
    assert "heard" not in event_text(started())
