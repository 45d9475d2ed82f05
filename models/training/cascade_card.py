"""MODEL_CARD.md for a v2 (cascade) manifest: stage two first, stage one's own card after it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.training.model_card import (
    _clip_table,
    _night_lines,
    _num,
    _steady_tone_lines,
    data_source_lines,
)

CASCADE_LIMITATIONS = [
    "## Known limitations",
    "",
    "- **Baby laughter** from an unseen home (`home:laugh_1`) still passes the threshold in about "
    "a third of its clips, and raises most false alerts on the synthesized nights: the only "
    "infant laughter in the data is one recording for training; validation's laughter is adult, "
    "some of it pitched up.",
    "- **Cats** meowing in noise are taken for crying in most field renditions; YAMNet itself "
    "confuses the two, and the data has a handful of cat clips.",
    "- The household sounds of the field sweep (claps, knocks, coughs, alarms, doors, keys, "
    "phones, music) are synthesized, not recorded; their low false-positive rates say little "
    "about real recordings of the same things.",
    "- Cries come from three sources, most of them 8 kHz phone recordings; the nights are "
    "synthesized. Nothing here was measured on a Raspberry Pi (docs/performance.md estimates it).",
    "- The development of this model printed the committed test split while comparing variants "
    "(docs/cry-detector.md, What we tried), so it is not untouched by those choices; the field "
    "sweep and field night were built after and not tuned on.",
    "",
]


def _field_lines(field: Mapping[str, Any] | None, title: str) -> list[str]:
    if not field:
        return [f"{title}: not measured."]
    lines = [
        f"{title}: {field['renditions']} renditions ({field['cries']} cries); ROC AUC "
        f"{_num(field['roc_auc'])}, F1 {_num(field['f1'])}, precision "
        f"{_num(field['precision'])}, recall {_num(field['recall'])} at the threshold "
        f"{field['threshold']:.4f}.",
        "",
        "| non-cry family | clips | false-positive rate | goal |",
        "|---|---:|---:|---:|",
    ]
    for family, entry in field["false_positive_rate_by_family"].items():
        lines.append(
            f"| {family} | {entry['clips']} | {_num(entry['false_positive_rate'])} | <= 0.05 |"
        )
    for heading, key in (
        ("cries at SNR", "cry_recall_by_snr"),
        ("cries in", "cry_recall_by_noise"),
        ("cries from", "cry_recall_by_source"),
    ):
        lines += ["", f"| {heading} | clips | recall |", "|---|---:|---:|"]
        for name, entry in field[key].items():
            lines.append(f"| {name} | {entry['clips']} | {_num(entry['recall'])} |")
    lines += ["", "| non-cry category | clips | false-positive rate |", "|---|---:|---:|"]
    for name, entry in field["false_positive_rate_by_category"].items():
        lines.append(f"| {name} | {entry['clips']} | {_num(entry['rate'])} |")
    return lines


def render_cascade_card(manifest: Mapping[str, Any]) -> str:
    from models.training.model_card import render_model_card

    cascade, training, metrics = manifest["cascade"], manifest["training"], manifest["metrics"]
    backbone, head, gate = cascade["backbone"], cascade["head"], cascade["gate"]
    hysteresis = manifest["hysteresis"]
    blend = head["blend"]
    lines = [
        "# Model card: Nursery cry detector (cascade)",
        "",
        "_Generated from `cry_detector.json` by `nursery-model`; edit the code, not this file._",
        "",
        "## Parts",
        "",
        "| part | file | bytes | sha256 | license |",
        "|---|---|---:|---|---|",
        f"| stage one: small int8 CNN on log-mel windows | `{manifest['model_file']}` | "
        f"{manifest['size_bytes']} | `{manifest['sha256']}` | BSD-3-Clause (this project) |",
        f"| stage two: YAMNet (AudioSet, 521 classes), embedding as an output | "
        f"`{backbone['model_file']}` | {backbone['size_bytes']} | `{backbone['sha256']}` | "
        f"{backbone['license']} |",
        f"| YAMNet class map | `{backbone['class_map']}` | | `{backbone['class_map_sha256']}` | "
        "Apache-2.0 |",
        f"| cry head (1024 -> {training['head']['hidden_units']} ReLU -> 1, numpy) | "
        f"`{head['file']}` | {head['size_bytes']} | `{head['sha256']}` | {head['license']} |",
        "",
        f"YAMNet source file sha256 `{backbone['source_sha256']}`; created "
        f"{manifest['created_utc']}, seed {training['seed']}, split seed "
        f"{training['split_seed']}, data manifest sha256 `{training['data_manifest_sha256']}`"
        + "".join(
            f"; extra data `{extra['manifest']}` sha256 `{extra['sha256']}`"
            for extra in training.get("extra_data", [])
        )
        + ".",
        f"Packages: {', '.join(f'{k} {v}' for k, v in training['packages'].items())}.",
        "",
        "## How it decides",
        "",
        f"- Gate: every 1 s window (every 0.1 s) is a candidate when the small model scores it "
        f">= {gate['small_threshold']} or its level is >= {gate['level_dbfs']} dBFS; the gate "
        f"stays open {gate['hold_s']} s after the last candidate.",
        f"- While open, YAMNet scores the last 0.975 s every {gate['backbone_hop_s']} s; the "
        f"cry score is sigmoid(head logit + {blend['zero_shot_weight']} x logit of YAMNet's "
        f"classes {blend['cry_classes']}), and the score handed on is the lowest of the last "
        f"{gate['smoothing_runs']} runs (crying is sustained).",
        f"- Threshold {hysteresis['on_threshold']:.4f} (best F1 on the validation renditions), "
        f"off threshold {hysteresis['off_threshold']:.4f}; onset {hysteresis['onset_k']} of "
        f"{hysteresis['onset_n']} windows and at least {hysteresis['min_duration_s']} s, chosen "
        "on a validation night; offset after "
        f"{hysteresis['offset_s']} s; cooldown {hysteresis['cooldown_s']} s.",
        f"- Zero-shot weight chosen on validation (F1 by weight: "
        f"{training['zero_shot_f1_by_weight']}).",
        "- Each alert carries YAMNet's top "
        f"{cascade['explain_top_labels']} AudioSet labels over the episode.",
        "- If stage two cannot load, the small model runs alone with its own thresholds "
        f"({cascade['fallback_hysteresis']['on_threshold']:.4f}) and the device reports "
        "`cry_model_degraded`.",
        "",
        "## Clip-level metrics: test split as recorded (group-held-out)",
        "",
        *_clip_table(metrics["test"]),
        "",
        "## Field test: the test split in noise, rooms and household sounds",
        "",
        *_field_lines(metrics.get("field_test"), "Field sweep"),
        "",
        "## Field night: white-noise machine, a household sound every ~12 s, reverberant cries",
        "",
        *_night_lines(metrics.get("field_night")),
        "",
        "## Event-level metrics: synthesized nursery night",
        "",
        *_night_lines(metrics.get("night")),
        "",
        "## Robustness: a quiet room with a steady whine",
        "",
        *_steady_tone_lines(metrics.get("steady_tones")),
        "",
        "## Validation (picked the zero-shot weight, threshold and onset rule)",
        "",
        *_clip_table(metrics["validation"]),
        "",
        *_field_lines(metrics.get("validation_renditions"), "Validation renditions"),
        "",
        *data_source_lines(manifest),
    ]
    lines += CASCADE_LIMITATIONS
    stage_one = render_model_card(manifest["stage_one"]).splitlines()
    lines += ["# Stage one: the small model's own card", ""]
    lines += [("#" + line) if line.startswith("#") else line for line in stage_one[1:]]
    return "\n".join(lines) + "\n"
