"""What the two-stage cry detector costs, stage by stage and over a synthesized hour.

``bench_cry`` prints these tables. CPU time is this process's (``time.process_time``: every
thread, user + system), so a run pinned to one core reads as "share of one core". The baseline
is today's detector: the same manifest with its ``cascade`` section removed (log-mel + the small
int8 model on every 1 s window every 0.1 s).

The two hours (16 kHz, built minute by minute, outside the timed part):
- quiet: a room at night, pink noise at -60 dBFS with a -80 dBFS mains hum; at 10, 30 and 45 min
  a sound (a spoken word, the test cry, a word) at its recorded level;
- busy: a white-noise machine at -40 dBFS, with a spoken word every minute (at 10 s) and the
  test cry every 5 minutes (at 30 s).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.cry import CryDetector, ModelManifest, load_audio
from models.cry.backbone import PATCH_SAMPLES
from models.cry.cascade import GateParams
from models.cry.detector import default_model_manifest_path
from models.training.noise import mains_hum, pink_noise, white_noise

FloatArray = npt.NDArray[np.float32]
REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "tests" / "data" / "audio"
CHUNK_S = 0.5
MINUTE_S = 60


@dataclass(frozen=True)
class StageCost:
    name: str
    ms_per_call: float
    calls_per_audio_s: float

    @property
    def ms_per_audio_s(self) -> float:
        return self.ms_per_call * self.calls_per_audio_s


@dataclass(frozen=True)
class HourCost:
    hour: str
    detector: str
    audio_s: float
    cpu_s: float
    backbone_runs: int
    gate_open_windows: int
    windows: int

    @property
    def core_pct(self) -> float:
        return 100.0 * self.cpu_s / self.audio_s


def small_only(manifest: ModelManifest) -> CryDetector:
    """Today's detector: the manifest without its stage two."""
    return CryDetector.from_manifest(replace(manifest, cascade=None), num_threads=1)


def small_only_manifest(folder: Path) -> Path:
    """A copy of the shipped manifest without its stage two, beside a copy of the small model."""
    source = default_model_manifest_path()
    data = json.loads(source.read_text())
    data.pop("cascade")
    (folder / data["model_file"]).write_bytes((source.parent / data["model_file"]).read_bytes())
    path = folder / "small_only.json"
    path.write_text(json.dumps(data))
    return path


def cascade(manifest: ModelManifest, gate: GateParams | None = None) -> CryDetector:
    if gate is not None:
        assert manifest.cascade is not None
        manifest = replace(manifest, cascade=replace(manifest.cascade, gate=gate))
    detector = CryDetector.from_manifest(manifest, num_threads=1)
    if detector.cascade is None:
        raise SystemExit(f"stage two did not load: {detector.degraded_reason}")
    return detector


def cpu_best(work: Callable[[], object], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return min(timings)


def stage_costs(
    small: CryDetector, full: CryDetector, audio: FloatArray, repeats: int
) -> list[StageCost]:
    """ms per call and calls per s of audio of each stage; stage two at the gate-open rate."""
    assert full.cascade is not None
    seconds = len(audio) / small.sample_rate

    def feed() -> None:
        small.reset()
        for start in range(0, len(audio), round(CHUNK_S * small.sample_rate)):
            small.feed(audio[start : start + round(CHUNK_S * small.sample_rate)])

    windows = small.windows
    window_rate = small.sample_rate / (windows.hop_frames * small.features.hop_length)
    feed_ms = 1000.0 * cpu_best(feed, repeats) / seconds / window_rate
    patches = [audio[i : i + PATCH_SAMPLES] for i in range(0, 20 * PATCH_SAMPLES, PATCH_SAMPLES)]
    backbone = full.cascade.backbone
    backbone.run(patches[0])  # the first invoke allocates; the agent pays it once
    yamnet_ms = 1000.0 * cpu_best(lambda: [backbone.run(p) for p in patches], repeats)
    outputs = [backbone.run(p) for p in patches]
    head = full.cascade.head
    head_ms = 1000.0 * cpu_best(lambda: [head.score(o) for o in outputs * 50], repeats)
    runs_per_s = 1.0 / full.cascade.gate.backbone_hop_s
    return [
        StageCost("log-mel + small model, one window (today's detector)", feed_ms, window_rate),
        StageCost("YAMNet, one 0.975 s patch (gate open)", yamnet_ms / len(patches), runs_per_s),
        StageCost("cry head, one embedding (gate open)", head_ms / (50 * len(outputs)), runs_per_s),
    ]


def _place(block: FloatArray, sound: FloatArray, at_s: float, rate: int) -> None:
    start = round(at_s * rate)
    end = min(len(block), start + len(sound))
    block[start:end] += sound[: end - start]


def hour_minutes(kind: str, minutes: int, rate: int) -> Iterator[FloatArray]:
    """The synthesized hour (see the module's doc), one minute at a time."""
    rng = np.random.default_rng(11)
    n = MINUTE_S * rate
    cry, word = (
        load_audio(AUDIO / name, rate)
        for name in ("cry_donateacry.flac", "not_cry_speech_commands.flac")
    )
    if kind == "quiet":
        bed = pink_noise(n, rate, rng) * np.float32(10 ** (-60 / 20))
        bed = bed + mains_hum(n, rate, rng) * np.float32(10 ** (-80 / 20))
        sounds = {10: word, 30: cry, 45: word}
        for minute in range(minutes):
            block = bed.copy()
            if minute in sounds:
                _place(block, sounds[minute], 20.0, rate)
            yield block
        return
    bed = white_noise(n, rate, rng) * np.float32(10 ** (-40 / 20))
    for minute in range(minutes):
        block = bed.copy()
        _place(block, word, 10.0, rate)
        if minute % 5 == 0:
            _place(block, cry, 30.0, rate)
        yield block


def hour_cost(detector: CryDetector, name: str, kind: str, minutes: int) -> HourCost:
    """CPU seconds the detector spends on the hour, fed in 0.5 s chunks as the daemon does."""
    detector.reset()
    counters = detector.cascade.counters if detector.cascade is not None else None
    before = (
        (counters.backbone_runs, counters.gate_open_windows, counters.windows)
        if counters
        else (0, 0, 0)
    )
    chunk = round(CHUNK_S * detector.sample_rate)
    cpu = 0.0
    for block in hour_minutes(kind, minutes, detector.sample_rate):
        started = time.process_time()
        for start in range(0, len(block), chunk):
            detector.feed(block[start : start + chunk])
        cpu += time.process_time() - started
    detector.finish()
    after = (
        (counters.backbone_runs, counters.gate_open_windows, counters.windows)
        if counters
        else (0, 0, 0)
    )
    return HourCost(
        kind,
        name,
        minutes * MINUTE_S,
        cpu,
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
    )


def print_stage_table(stages: list[StageCost]) -> None:
    baseline = stages[0].ms_per_audio_s
    print(
        "| stage | ms per call | calls per s of audio | ms per s of audio | % of one core | x today's detector |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for stage in stages:
        print(
            f"| {stage.name} | {stage.ms_per_call:.3f} | {stage.calls_per_audio_s:.2f} | "
            f"{stage.ms_per_audio_s:.3f} | {stage.ms_per_audio_s / 10:.3f} | "
            f"{stage.ms_per_audio_s / baseline:.2f}x |"
        )


def print_hour_table(hours: list[HourCost]) -> None:
    print(
        "| hour | detector | CPU s per audio s | % of one core | backbone runs per s | "
        "gate open | x small model, same hour |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    small = {h.hour: h for h in hours if h.detector.startswith("small")}
    for hour in hours:
        gate = f"{100.0 * hour.gate_open_windows / hour.windows:.1f} %" if hour.windows else "-"
        print(
            f"| {hour.hour} | {hour.detector} | {hour.cpu_s / hour.audio_s:.5f} | "
            f"{hour.core_pct:.3f} | {hour.backbone_runs / hour.audio_s:.2f} | {gate} | "
            f"{hour.cpu_s / small[hour.hour].cpu_s:.2f}x |"
        )
