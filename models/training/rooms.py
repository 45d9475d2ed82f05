"""What a room and a cheap microphone do to a sound: reverberation, distance, gain, clipping.

Pure numpy and seeded. Reverberation convolves with a synthesized impulse response (a direct
path, then exponentially decaying noise whose 60 dB decay time is the room's RT60), the model
used for augmentation when no measured responses are at hand; distance is a gentler slope
above a few kHz (air and furniture absorb highs) and a lower level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
LN_1000 = float(np.log(1000.0))  # 60 dB of amplitude decay


def synth_rir(
    rt60_s: float, rate: int, rng: np.random.Generator, direct_ratio_db: float
) -> FloatArray:
    """Direct sound, then a decaying diffuse tail ``direct_ratio_db`` under it."""
    n = max(1, int(rt60_s * rate))
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-LN_1000 * t / rt60_s)
    # Absorbent rooms lose highs faster: smooth the tail a little more as it decays.
    tail = np.convolve(tail, np.ones(3) / 3.0, mode="same")
    tail_energy = float(np.sum(tail**2)) or 1.0
    tail *= np.sqrt(10.0 ** (-direct_ratio_db / 10.0) / tail_energy)
    rir = np.concatenate(([1.0], np.zeros(int(0.002 * rate)), tail))  # first reflections ~2 ms on
    return rir.astype(np.float32)


def reverberate(signal: FloatArray, rir: FloatArray) -> FloatArray:
    """Convolve and keep the signal's length (the tail past the end is cut, as a clip would be)."""
    from scipy.signal import fftconvolve

    return np.asarray(fftconvolve(signal, rir)[: len(signal)], dtype=np.float32)


def far_field(signal: FloatArray, rate: int, cutoff_hz: float) -> FloatArray:
    """A first-order-like roll-off above ``cutoff_hz`` (distance, a pillow, a cheap mic)."""
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1.0 / rate)
    spectrum /= np.sqrt(1.0 + (freqs / cutoff_hz) ** 2)
    return np.asarray(np.fft.irfft(spectrum, n=len(signal)), dtype=np.float32)


def clip_peaks(signal: FloatArray, ceiling: float) -> FloatArray:
    """Hard clipping of an overdriven input stage."""
    return np.clip(signal, -ceiling, ceiling).astype(np.float32)


@dataclass(frozen=True)
class RoomParams:
    reverb_probability: float = 0.5
    rt60_range_s: tuple[float, float] = (0.2, 0.8)
    direct_ratio_db_range: tuple[float, float] = (-6.0, 6.0)
    far_field_probability: float = 0.4
    far_field_cutoff_hz: tuple[float, float] = (1500.0, 6000.0)
    clipping_probability: float = 0.05


def apply_room(
    signal: FloatArray, rate: int, params: RoomParams, rng: np.random.Generator
) -> tuple[FloatArray, list[str]]:
    """Randomly reverberate, roll off and clip; returns the sound and what was done to it."""
    done: list[str] = []
    if rng.random() < params.reverb_probability:
        rt60 = float(rng.uniform(*params.rt60_range_s))
        rir = synth_rir(rt60, rate, rng, float(rng.uniform(*params.direct_ratio_db_range)))
        signal = reverberate(signal, rir)
        done.append(f"reverb {rt60:.1f} s")
    if rng.random() < params.far_field_probability:
        cutoff = float(rng.uniform(*params.far_field_cutoff_hz))
        signal = far_field(signal, rate, cutoff)
        done.append(f"far {cutoff:.0f} Hz")
    if rng.random() < params.clipping_probability:
        peak = float(np.max(np.abs(signal))) or 1.0
        signal = clip_peaks(signal, peak * float(rng.uniform(0.2, 0.6)))
        done.append("clipped")
    return signal, done


@dataclass(frozen=True)
class HomeRoom:
    """One nursery heard through one microphone: the room's reverberant tail and the mic's
    roll-off are drawn once (``draw_home_room``) and shared by every sound of a night; what
    changes from one sound to the next is where the source is (``apply_home_room``)."""

    rt60_s: float | None  # None: a dry room (no reverberation modelled)
    tail: FloatArray  # the diffuse tail at unit energy (empty when dry)
    cutoff_hz: float | None  # the microphone's roll-off, None when it has none


def draw_home_room(rate: int, params: RoomParams, rng: np.random.Generator) -> HomeRoom:
    """The home's room and microphone, drawn as ``apply_room`` draws a sound's (no clipping:
    an overdriven input is a per-sound accident, not a property of the room)."""
    rt60: float | None = None
    tail = np.zeros(0, dtype=np.float32)
    if rng.random() < params.reverb_probability:
        rt60 = float(rng.uniform(*params.rt60_range_s))
        rir = synth_rir(rt60, rate, rng, 0.0)
        tail = rir[1 + int(0.002 * rate) :].astype(np.float32)
    cutoff = None
    if rng.random() < params.far_field_probability:
        cutoff = float(rng.uniform(*params.far_field_cutoff_hz))
    return HomeRoom(rt60, tail, cutoff)


def apply_home_room(
    signal: FloatArray,
    rate: int,
    home: HomeRoom,
    params: RoomParams,
    rng: np.random.Generator,
) -> FloatArray:
    """``signal`` from a source somewhere in ``home``: the same tail and microphone for every
    sound, at a direct-to-reverberant ratio of this placement's own (its distance: the cot
    beside the mic, the cat across the room) drawn from ``params.direct_ratio_db_range``."""
    if home.rt60_s is not None and len(home.tail):
        direct_ratio_db = float(rng.uniform(*params.direct_ratio_db_range))
        gain = np.float32(np.sqrt(10.0 ** (-direct_ratio_db / 10.0)))
        rir = np.concatenate(([1.0], np.zeros(int(0.002 * rate)), home.tail * gain))
        signal = reverberate(signal, rir.astype(np.float32))
    if home.cutoff_hz is not None:
        signal = far_field(signal, rate, home.cutoff_hz)
    return signal
