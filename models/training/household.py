"""Synthesized household sounds: the non-cries a nursery hears that the corpus barely has.

The shared corpus has speech, laughter and a few ESC-50 animals and sirens, but no claps,
knocks, doors, keys, coughs, alarms, phones or music. These generators give the head and the
validation split crude versions of each (seeded, pure numpy): not a substitute for recordings,
but enough that "sharp, loud and new" is not learned as "crying". The classes YAMNet already
knows (it was trained on recordings of all of them) shape the embedding these land in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from models.training.noise import unit_rms

FloatArray = npt.NDArray[np.float32]
Generator = Callable[[float, int, np.random.Generator], FloatArray]


def _band_noise(n: int, rate: int, low: float, high: float, rng: np.random.Generator) -> FloatArray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    return unit_rms(np.fft.irfft(spectrum, n=n))


def _decay(n: int, rate: int, tau_s: float) -> FloatArray:
    return np.exp(-np.arange(n) / (rate * tau_s)).astype(np.float32)


def _place_bursts(
    duration_s: float,
    rate: int,
    rng: np.random.Generator,
    burst: Callable[[], FloatArray],
    count: int,
    spacing_s: tuple[float, float],
) -> FloatArray:
    out = np.zeros(int(duration_s * rate), dtype=np.float32)
    at = int(rng.uniform(0.0, 0.3) * rate)
    for _ in range(count):
        sound = burst()
        end = min(len(out), at + len(sound))
        if at >= len(out):
            break
        out[at:end] += sound[: end - at]
        at += int(rng.uniform(*spacing_s) * rate)
    return out


def claps(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    def clap() -> FloatArray:
        n = int(rng.uniform(0.03, 0.08) * rate)
        return _band_noise(n, rate, 600.0, 5000.0, rng) * _decay(n, rate, rng.uniform(0.006, 0.02))

    return _place_bursts(duration_s, rate, rng, clap, int(rng.integers(1, 10)), (0.15, 0.5))


def knocks(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    pitch = rng.uniform(90.0, 400.0)

    def knock() -> FloatArray:
        n = int(0.15 * rate)
        t = np.arange(n) / rate
        body = np.sin(2 * np.pi * pitch * t) + 0.5 * np.sin(2 * np.pi * 2.7 * pitch * t)
        click = _band_noise(n, rate, 1000.0, 6000.0, rng) * _decay(n, rate, 0.003)
        return (body * _decay(n, rate, rng.uniform(0.01, 0.04)) + 0.5 * click).astype(np.float32)

    return _place_bursts(duration_s, rate, rng, knock, int(rng.integers(2, 7)), (0.12, 0.3))


def door(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    def slam() -> FloatArray:
        n = int(0.5 * rate)
        t = np.arange(n) / rate
        thump = np.sin(2 * np.pi * rng.uniform(40.0, 120.0) * t) * _decay(n, rate, 0.08)
        rattle = _band_noise(n, rate, 200.0, 4000.0, rng) * _decay(n, rate, 0.03)
        return (thump + rng.uniform(0.2, 0.8) * rattle).astype(np.float32)

    return _place_bursts(duration_s, rate, rng, slam, int(rng.integers(1, 3)), (0.6, 1.5))


def keys(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    def jingle() -> FloatArray:
        n = int(0.08 * rate)
        t = np.arange(n) / rate
        tone = sum(np.sin(2 * np.pi * rng.uniform(2500, 7500) * t) for _ in range(3))
        return (np.asarray(tone) * _decay(n, rate, rng.uniform(0.01, 0.04))).astype(np.float32)

    return _place_bursts(duration_s, rate, rng, jingle, int(rng.integers(5, 30)), (0.02, 0.12))


def cough(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    def one() -> FloatArray:
        n = int(rng.uniform(0.15, 0.35) * rate)
        low = rng.uniform(200.0, 600.0)
        sound = _band_noise(n, rate, low, low + rng.uniform(1000.0, 3000.0), rng)
        envelope = np.minimum(np.arange(n) / (0.01 * rate), 1.0) * _decay(n, rate, 0.08)
        voiced = np.sin(2 * np.pi * rng.uniform(100.0, 250.0) * np.arange(n) / rate)
        return ((sound + rng.uniform(0.0, 0.6) * voiced) * envelope).astype(np.float32)

    return _place_bursts(duration_s, rate, rng, one, int(rng.integers(1, 4)), (0.3, 0.7))


def alarm(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    """Smoke alarm, alarm clock, microwave and appliance beeps: on/off tones, square-ish."""
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    high = rng.random() < 0.5  # a smoke alarm's ~3 kHz, or an appliance's lower beep
    pitch = float(rng.uniform(2800.0, 3500.0) if high else rng.uniform(800.0, 2500.0))
    tone = np.sign(np.sin(2 * np.pi * pitch * t)) * 0.6 + np.sin(2 * np.pi * pitch * t)
    period = rng.uniform(0.15, 1.0)
    gate = ((t % period) < period * rng.uniform(0.3, 0.7)).astype(np.float32)
    return np.asarray(tone * gate, dtype=np.float32)


def phone(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    """A ringtone: a few notes of a melody or the classic two-tone ring, repeated."""
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    notes = 440.0 * 2.0 ** (rng.integers(-5, 15, size=int(rng.integers(2, 6))) / 12.0)
    note_s = rng.uniform(0.08, 0.3)
    index = (t // note_s).astype(int) % len(notes)
    freq = notes[index]
    phase = 2 * np.pi * np.cumsum(freq) / rate
    tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    ring = ((t % 2.0) < 1.2).astype(np.float32)
    return (tone * ring).astype(np.float32)


def music(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    """Chords and a melody of harmonic tones with a beat: a radio in the next room."""
    n = int(duration_s * rate)
    t = np.arange(n) / rate
    beat_s = 60.0 / rng.uniform(70.0, 140.0)
    root = 110.0 * 2.0 ** (rng.integers(0, 12) / 12.0)
    out = np.zeros(n)
    for interval in (0, 4, 7):
        f = root * 2.0 ** (interval / 12.0)
        out += 0.3 * (np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t))
    melody = root * 4 * 2.0 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12], size=64) / 12.0)
    f_mel = melody[(t // (beat_s / 2)).astype(int) % 64]
    envelope = np.exp(-(t % (beat_s / 2)) / 0.2)
    out += np.sin(2 * np.pi * np.cumsum(f_mel) / rate) * envelope
    drum = _band_noise(n, rate, 40.0, 150.0, rng) * np.exp(-(t % beat_s) / 0.05)
    return unit_rms(out + 0.5 * drum)


def footsteps(duration_s: float, rate: int, rng: np.random.Generator) -> FloatArray:
    def step() -> FloatArray:
        n = int(0.12 * rate)
        return _band_noise(n, rate, 40.0, 800.0, rng) * _decay(n, rate, 0.02)

    return _place_bursts(duration_s, rate, rng, step, int(rng.integers(2, 8)), (0.4, 0.7))


HOUSEHOLD: dict[str, Generator] = {
    "claps": claps,
    "knocks": knocks,
    "door": door,
    "keys": keys,
    "cough": cough,
    "alarm": alarm,
    "phone": phone,
    "music": music,
    "footsteps": footsteps,
}


def household_sound(
    kind: str, duration_s: float, rate: int, rng: np.random.Generator
) -> FloatArray:
    """One sound of ``kind`` at unit RMS (silent stretches count: RMS of the whole clip)."""
    return unit_rms(HOUSEHOLD[kind](duration_s, rate, rng))
