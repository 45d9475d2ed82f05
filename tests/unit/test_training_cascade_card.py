"""The cascade's model card, rendered from a v2 manifest."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from models.artifacts import MANIFEST_PATH
from models.training.cascade_card import render_cascade_card
from models.training.field_report import FAMILIES, Scored, field_report
from models.training.model_card import render_model_card
from models.training.renditions import Rendition


def stage_one() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST_PATH.read_text())
    return dict(data.get("stage_one", data))


def field_metrics() -> dict[str, Any]:
    def item(source: str, clip: str, condition: str, cry: bool, score: float) -> Scored:
        return Scored(Rendition(np.zeros(1, np.float32), cry, source, condition, clip), score)

    return field_report(
        [
            item("donateacry", "cry/1.flac", "clean", True, 0.9),
            item("donateacry", "cry/1.flac", "pink -5 dB", True, 0.2),
            item("household:claps", "f:claps:0", "white +5 dB", False, 0.7),
            item("esc50", "not_cry/esc50/dog/a.flac", "clean", False, 0.1),
        ],
        0.5,
    )


def manifest() -> dict[str, Any]:
    small = stage_one()
    hysteresis = {**small["hysteresis"], "on_threshold": 0.6125, "off_threshold": 0.30625}
    return {
        **{key: small[key] for key in ("model_file", "sha256", "size_bytes")},
        "schema_version": 2,
        "created_utc": "2026-12-06T00:00:00Z",
        "hysteresis": hysteresis,
        "cascade": {
            "backbone": {
                "model_file": "yamnet_embedding.tflite",
                "size_bytes": 4077264,
                "sha256": "b" * 64,
                "class_map": "yamnet_class_map.csv",
                "class_map_sha256": "c" * 64,
                "source_sha256": "d" * 64,
                "license": "Apache-2.0",
            },
            "head": {
                "file": "cry_head.npz",
                "size_bytes": 263710,
                "sha256": "e" * 64,
                "license": "BSD-3-Clause",
                "blend": {"zero_shot_weight": 0.25, "cry_classes": [19, 20]},
            },
            "gate": {
                "small_threshold": 0.3,
                "level_dbfs": -50.0,
                "hold_s": 4.0,
                "backbone_hop_s": 0.3,
                "smoothing_runs": 2,
            },
            "fallback_hysteresis": small["hysteresis"],
            "explain_top_labels": 3,
        },
        "training": {
            "head": {"hidden_units": 64},
            "seed": 1234,
            "split_seed": 1234,
            "data_manifest_sha256": "f" * 64,
            "packages": {"numpy": "2.0"},
            "zero_shot_f1_by_weight": {"0": 0.8, "0.25": 0.85},
        },
        "metrics": {
            "test": small["metrics"]["test"],
            "validation": small["metrics"]["validation"],
            "field_test": field_metrics(),
            "validation_renditions": None,
        },
        "data_sources": [
            {"source": "donateacry", "license": "ODbL", "clips": {"test:cry": 3}, "groups": {}}
        ],
        "split_method": "by group",
        "stage_one": small,
    }


def test_the_card_lists_every_part_with_its_file_and_digest() -> None:
    card = render_cascade_card(manifest())
    small = stage_one()
    assert card.startswith("# Model card: Nursery cry detector (cascade)\n")
    parts = card.split("## Parts", 1)[1].split("## How it decides", 1)[0]
    rows = [line for line in parts.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 4  # header, small model, YAMNet, class map, head
    assert f"`{small['model_file']}` | {small['size_bytes']} | `{small['sha256']}`" in parts
    assert f"`yamnet_embedding.tflite` | 4077264 | `{'b' * 64}` | Apache-2.0" in parts
    assert f"`{'c' * 64}`" in parts
    assert "1024 -> 64 ReLU -> 1" in parts
    assert f"`cry_head.npz` | 263710 | `{'e' * 64}`" in parts


def test_the_card_says_how_it_decides_from_the_manifest() -> None:
    card = render_cascade_card(manifest())
    assert "Threshold 0.6125" in card
    assert "0.25 x logit of YAMNet's classes [19, 20]" in card
    assert f"({stage_one()['hysteresis']['on_threshold']:.4f})" in card  # the fallback's own


def test_the_field_table_has_a_row_per_family_and_snr() -> None:
    card = render_cascade_card(manifest())
    field = card.split("## Field test", 1)[1].split("## Field night", 1)[0]
    for family in FAMILIES:
        assert f"| {family} |" in field
    assert "| household (claps, knocks, coughs, alarms, laughter) | 1 | 1.000 | <= 0.05 |" in field
    assert "| animals (ESC-50 cats, dogs) | 1 | 0.000 | <= 0.05 |" in field
    assert "| noise beds alone (noise machines, fans, hum, ambience) | 0 | n/a | <= 0.05 |" in field
    assert "| clean | 1 | 1.000 |" in field
    assert "| -5 dB | 1 | 0.000 |" in field
    assert "4 renditions (2 cries)" in field


def test_what_was_not_measured_says_so() -> None:
    card = render_cascade_card(manifest())
    assert "Validation renditions: not measured." in card
    night = card.split("## Field night", 1)[1].split("## Event-level", 1)[0]
    assert "Not measured yet" in night


def test_stage_ones_card_follows_one_level_down_and_dispatch_picks_the_cascade_card() -> None:
    data = manifest()
    card = render_cascade_card(data)
    own = card.split("# Stage one: the small model's own card", 1)[1]
    small_card = render_model_card(stage_one())
    first_section = next(line for line in small_card.splitlines() if line.startswith("## "))
    assert "\n#" + first_section + "\n" in own
    assert render_model_card(data) == card
