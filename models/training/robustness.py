"""Steady-tone robustness: does a quiet room with an electrical whine page the parents?

Fridges, chargers, humidifiers and TV sets whine: a steady tone and its octave, sometimes at a
baby's pitch (one of the corpus's home recordings holds a 585 Hz whine). Nobody is crying, so
the detector must raise no episode. Each case is a quiet synthesized room (fan, noise machine,
hum: ``models.training.noise``) with one whine from a fixed grid of pitches at a level relative to
the room, streamed through the full detector (hysteresis included) exactly as the daemon runs it.
The grid and seeds are fixed and differ from training's random whines (``whine.appliance_whine``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.cry.detector import CryDetector
from models.training.noise import synth_background
from models.training.whine import steady_whine

FloatArray = npt.NDArray[np.float32]
WHINE_PITCHES_HZ = (150.0, 300.0, 450.0, 585.0, 800.0, 1_100.0, 1_400.0)
WHINE_LEVELS_DB = (-20.0, -10.0, 0.0, 10.0)  # whine power relative to the room's
ROOM_LEVEL = 0.003  # about -50 dBFS: a quiet nursery
ROOMS_PER_PITCH = 4
CASE_SECONDS = 20.0
PROBE_SEED = 90_210  # own stream: not a training round's


@dataclass(frozen=True)
class LevelResult:
    level_db: float | None  # None: the room alone
    cases: int
    rooms_alerted: int
    false_alerts_per_hour: float

    @property
    def alerted_fraction(self) -> float:
        return self.rooms_alerted / self.cases


@dataclass(frozen=True)
class RobustnessReport:
    case_seconds: float
    levels: list[LevelResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_seconds": self.case_seconds,
            "whine_pitches_hz": list(WHINE_PITCHES_HZ),
            "levels": [{**asdict(r), "alerted_fraction": r.alerted_fraction} for r in self.levels],
        }


def whine(n: int, rate: int, pitch_hz: float, rng: np.random.Generator) -> FloatArray:
    """A tone and its octave (3-9 dB down), steady for ``n`` samples."""
    octave = 10.0 ** (-rng.uniform(3.0, 9.0) / 20.0)
    partials = [(1.0, rng.uniform(0, 2 * np.pi)), (octave, rng.uniform(0, 2 * np.pi))]
    return steady_whine(n, rate, pitch_hz, partials)


def room_case(
    pitch_hz: float, level_db: float | None, index: int, rate: int, seconds: float
) -> FloatArray:
    rng = np.random.default_rng([PROBE_SEED, int(pitch_hz), index])
    n = int(seconds * rate)
    room = synth_background(n, rate, rng)
    if level_db is not None:
        room = room + whine(n, rate, pitch_hz, rng) * np.float32(10.0 ** (level_db / 20.0))
    return np.asarray(room * ROOM_LEVEL, dtype=np.float32)


def alerts_in(detector: CryDetector, audio: FloatArray) -> int:
    detector.reset()
    events = detector.feed(audio) + detector.finish()
    return sum(1 for event in events if event.kind == "cry_started")


def steady_tone_report(
    detector: CryDetector,
    levels: Sequence[float | None] = (None, *WHINE_LEVELS_DB),
    rooms_per_pitch: int = ROOMS_PER_PITCH,
    seconds: float = CASE_SECONDS,
) -> RobustnessReport:
    rate = detector.sample_rate
    results = []
    for level in levels:
        alerted = alerts = cases = 0
        for pitch in WHINE_PITCHES_HZ:
            for index in range(rooms_per_pitch):
                count = alerts_in(detector, room_case(pitch, level, index, rate, seconds))
                alerts += count
                alerted += int(count > 0)
                cases += 1
        hours = cases * seconds / 3600.0
        results.append(LevelResult(level, cases, alerted, round(alerts / hours, 2)))
    return RobustnessReport(seconds, results)


def format_robustness(report: RobustnessReport) -> str:
    lines = [
        f"quiet room + steady whine ({len(WHINE_PITCHES_HZ)} pitches, "
        f"{report.case_seconds:.0f} s each):",
        f"{'whine level':>14} {'rooms':>6} {'alerted':>8} {'fraction':>9} {'alerts/h':>9}",
    ]
    for r in report.levels:
        level = "none" if r.level_db is None else f"{r.level_db:+.0f} dB"
        lines.append(
            f"{level:>14} {r.cases:>6} {r.rooms_alerted:>8} {r.alerted_fraction:>9.2f} "
            f"{r.false_alerts_per_hour:>9.1f}"
        )
    return "\n".join(lines)
