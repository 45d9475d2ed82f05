"""Rendering MODEL_CARD.md from the model manifest, so the two never disagree."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.training.intervals import proportion_interval, rate_interval


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _clip_table(section: Mapping[str, Any]) -> list[str]:
    lines = [
        "| source | clips | cries | ROC AUC | precision | recall | F1 | false-positive rate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [*section.get("per_source", {}).items()]
    for name, m in rows:
        lines.append(
            f"| {name} | {m['n']} | {m['n_cry']} | {_num(m['auc'])} | {_num(m['precision'])} | "
            f"{_num(m['recall'])} | {_num(m['f1'])} | {_num(m['false_positive_rate'])} |"
        )
    lines.append(
        f"| **overall** | {section['n']} | {sum(m['n_cry'] for _, m in rows)} | "
        f"{_num(section['auc'])} | {_num(section['precision'])} | {_num(section['recall'])} | "
        f"{_num(section['f1'])} | |"
    )
    return lines


def _interval(low: float, high: float) -> str:
    return f"{low:.2f}-{high:.2f}"


def _night_lines(night: Mapping[str, Any] | None) -> list[str]:
    if not night:
        return ["Not measured yet (run `nursery-model night --update-manifest`)."]
    recall_low, recall_high = proportion_interval(night["detected"], night["episodes"])
    alerts_low, alerts_high = rate_interval(night["false_alerts"], night["non_cry_hours"])
    alerts = f"{night['false_alerts']} alert{'' if night['false_alerts'] == 1 else 's'}"
    return [
        f"Synthesized night of {night['hours']:.2f} h ({night['non_cry_hours']:.2f} h without "
        f"crying), {night['episodes']} held-out cry episodes from the **{night['cry_split']}** "
        f"split, seed {night['seed']}:",
        "",
        "| metric | value | 95 % interval | target |",
        "|---|---:|---:|---:|",
        f"| episode recall | {_num(night['episode_recall'])} ({night['detected']} of "
        f"{night['episodes']}) | {_interval(recall_low, recall_high)} | >= 0.95 |",
        f"| false alerts per hour of non-cry audio | {_num(night['false_alerts_per_hour'])} "
        f"({alerts}) | {_interval(alerts_low, alerts_high)} | <= 1 |",
        f"| median onset latency (s) | {_num(night['median_onset_latency_s'], 2)} | | <= 1.5 |",
        f"| 90th percentile onset latency (s) | {_num(night['p90_onset_latency_s'], 2)} | | |",
        "",
        "Intervals: Wilson for recall, exact Poisson for the false-alert rate. Where an interval "
        "reaches across the target, this night cannot tell whether the target is met.",
        "",
        "Onset latency runs from the episode's first clearly audible 50 ms (within 20 dB of its "
        "loudest; a clip's quiet lead-in is not crying yet) to the moment the detector emits "
        "`cry_started`.",
    ]


def _onset_rule_lines(night: Mapping[str, Any] | None) -> list[str]:
    if not night:
        return []
    return [
        "- The onset rule (k of n, minimum length) was chosen on a synthesized night of "
        f"validation clips ({night['hours']:.1f} h, {night['episodes']} episodes): recall "
        f"{_num(night['episode_recall'])}, {night['false_alerts']} false alerts, median onset "
        f"{_num(night['median_onset_latency_s'], 2)} s."
    ]


def _steady_tone_lines(report: Mapping[str, Any] | None) -> list[str]:
    if not report:
        return ["Not measured yet: run `nursery-model robustness --update-manifest`."]
    pitches = ", ".join(f"{p:.0f}" for p in report["whine_pitches_hz"])
    lines = [
        f"Quiet synthesized rooms ({report['case_seconds']:.0f} s each, about -50 dBFS), alone "
        f"and with a steady whine (a tone and its octave; {pitches} Hz) at a level against the "
        "room, streamed through the live detector; nobody cries, so every episode is a false "
        "alert (`nursery-model robustness`):",
        "",
        "| whine level | rooms | rooms with a false alert | false alerts per hour |",
        "|---|---:|---:|---:|",
    ]
    for level in report["levels"]:
        name = "none" if level["level_db"] is None else f"{level['level_db']:+.0f} dB"
        lines.append(
            f"| {name} | {level['cases']} | {level['rooms_alerted']} | "
            f"{level['false_alerts_per_hour']:.1f} |"
        )
    return lines


def _split_seed_note(training: Mapping[str, Any]) -> str:
    split_seed = training.get("split_seed", training["seed"])
    return "" if split_seed == training["seed"] else f" (split and validation seed {split_seed})"


def _extra_data_lines(extra: list[dict[str, Any]]) -> list[str]:
    """One line per extra data manifest (``train --extra-data``); the sha256 above covers all."""
    return [
        f"- Extra data: {', '.join(entry['sources'])} ({entry['clips']} clips, manifest sha256 "
        f"`{entry['sha256']}`); the data sha256 above is then a digest over all manifests"
        for entry in extra
    ]


def data_source_lines(manifest: Mapping[str, Any]) -> list[str]:
    """The data sources table (license, clips and groups per split) and the split method."""
    lines = [
        "## Data sources and licenses",
        "",
        "| source | license | clips per split:label | groups per split:label |",
        "|---|---|---|---|",
    ]
    for source in manifest["data_sources"]:
        clips = ", ".join(f"{k} {v}" for k, v in source["clips"].items())
        groups = ", ".join(f"{k} {v}" for k, v in source["groups"].items())
        lines.append(f"| {source['source']} | {source['license']} | {clips} | {groups} |")
    return [*lines, "", f"Split: {manifest['split_method']}.", ""]


def render_model_card(manifest: Mapping[str, Any]) -> str:
    from models.training.model_card_text import STATIC_SECTIONS

    if "cascade" in manifest:
        from models.training.cascade_card import render_cascade_card

        return render_cascade_card(manifest)

    features, windows, hysteresis = (
        manifest["features"],
        manifest["windows"],
        manifest["hysteresis"],
    )
    training, metrics = manifest["training"], manifest["metrics"]
    lines = [
        "# Model card: Nursery cry detector",
        "",
        "_Generated from `cry_detector.json` by `nursery-model`; edit the code, not this file._",
        "",
        f"- Model file: `{manifest['model_file']}` ({manifest['size_bytes']} bytes), "
        f"sha256 `{manifest['sha256']}`",
        f"- Created: {manifest['created_utc']}; seed {training['seed']}"
        f"{_split_seed_note(training)}; data manifest sha256 "
        f"`{training['data_manifest_sha256']}`",
        *_extra_data_lines(training.get("extra_data", [])),
        f"- Packages: {', '.join(f'{k} {v}' for k, v in training['packages'].items())}",
        "",
        "## Features (frozen; read from the manifest at run time)",
        "",
        f"- Log-mel: {features['n_mels']} bands, {features['fmin_hz']:.0f}-"
        f"{features['fmax_hz']:.0f} Hz (HTK mel, triangular, unnormalised), "
        f"{features['sample_rate']} Hz audio, {features['frame_length']}-sample periodic Hann "
        f"frames every {features['hop_length']} samples, {features['n_fft']}-point FFT, power "
        f"floor {features['power_floor']:g} (-100 dB), no centring.",
        f"- Windows: {windows['window_frames']} frames (~1 s) every {windows['hop_frames']} "
        f"frames ({windows['hop_frames'] * features['hop_length'] / features['sample_rate']:.2f}"
        f" s), each referenced to its own peak and clipped to {windows['dynamic_range_db']:.0f}"
        " dB, mapped to [0, 1].",
        "",
        "## Thresholds and hysteresis",
        "",
        f"- Clip threshold (= onset threshold): **{hysteresis['on_threshold']:.4f}**, chosen "
        "as the best-F1 threshold on the validation split; off threshold "
        f"{hysteresis['off_threshold']:.4f}.",
        f"- Onset: {hysteresis['onset_k']} of {hysteresis['onset_n']} windows over the on "
        f"threshold and at least {hysteresis['min_duration_s']} s; offset after "
        f"{hysteresis['offset_s']} s under the off threshold; cooldown "
        f"{hysteresis['cooldown_s']} s.",
        *_onset_rule_lines(training.get("onset_rule_validation_night")),
        "",
        *data_source_lines(manifest),
    ]
    lines += ["## Clip-level metrics: test split (group-held-out)", ""]
    lines += _clip_table(metrics["test"])
    lines += ["", "## Clip-level metrics: validation split (used to pick the threshold)", ""]
    lines += _clip_table(metrics["validation"])
    lines += ["", "## Event-level metrics: synthesized nursery night", ""]
    lines += _night_lines(metrics.get("night"))
    lines += ["", "## Robustness: a quiet room with a steady whine", ""]
    lines += _steady_tone_lines(metrics.get("steady_tones"))
    lines += ["", *STATIC_SECTIONS]
    return "\n".join(lines) + "\n"
