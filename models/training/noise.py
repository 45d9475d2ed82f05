"""Synthesized nursery backgrounds: fans, white-noise machines, mains hum (pure numpy, seeded).

Used both to augment training clips and to build the synthesized "nursery night" benchmark.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

PINK_EXPONENT = 1.0  # power spectrum ~ 1/f
BROWN_EXPONENT = 2.0  # power spectrum ~ 1/f^2
MAINS_HZ = (50.0, 60.0)
HUM_HARMONICS = 8
FAN_BLADE_HZ_RANGE = (60.0, 220.0)
FAN_WOBBLE_HZ_RANGE = (0.1, 1.0)  # slow loudness modulation of a fan
FAN_LOWPASS_HZ_RANGE = (600.0, 2500.0)


def unit_rms(signal: npt.NDArray[np.floating]) -> FloatArray:
    rms = float(np.sqrt(np.mean(np.square(signal, dtype=np.float64))))
    if rms == 0.0:
        return np.zeros(len(signal), dtype=np.float32)
    return (signal / rms).astype(np.float32)


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> FloatArray:
    """Gaussian noise whose power spectrum falls as 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0  # no DC blow-up; the DC bin is zeroed below anyway
    spectrum *= freqs ** (-exponent / 2.0)
    spectrum[0] = 0.0
    return unit_rms(np.fft.irfft(spectrum, n=n))


def white_noise(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    del rate  # rate-independent; kept for a uniform generator signature
    return unit_rms(rng.standard_normal(n))


def pink_noise(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    del rate
    return coloured_noise(n, PINK_EXPONENT, rng)


def brown_noise(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    del rate
    return coloured_noise(n, BROWN_EXPONENT, rng)


def mains_hum(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    """Mains hum with decaying harmonics plus a little hiss, as from a cheap amplifier."""
    t = np.arange(n) / rate
    base = float(rng.choice(MAINS_HZ))
    hum = sum(
        rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
        for k in range(1, HUM_HARMONICS + 1)
    )
    return unit_rms(np.asarray(hum) + 0.05 * rng.standard_normal(n))


def fan_noise(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    """Low-passed noise with a blade tone and a slow wobble, like a ceiling or desk fan."""
    cutoff_hz = rng.uniform(*FAN_LOWPASS_HZ_RANGE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    spectrum /= 1.0 + (freqs / cutoff_hz) ** 4
    body = unit_rms(np.fft.irfft(spectrum, n=n))
    t = np.arange(n) / rate
    blade = np.sin(2 * np.pi * rng.uniform(*FAN_BLADE_HZ_RANGE) * t)
    wobble = 1.0 + 0.3 * np.sin(2 * np.pi * rng.uniform(*FAN_WOBBLE_HZ_RANGE) * t)
    return unit_rms((body + rng.uniform(0.0, 0.5) * blade) * wobble)


NoiseGenerator = Callable[[int, int, np.random.Generator], FloatArray]

NOISE_GENERATORS: dict[str, NoiseGenerator] = {
    "white": white_noise,
    "pink": pink_noise,
    "brown": brown_noise,
    "hum": mains_hum,
    "fan": fan_noise,
}


def synth_background(n: int, rate: int, rng: np.random.Generator) -> FloatArray:
    """A random synthesized background of ``n`` samples at unit RMS."""
    name = sorted(NOISE_GENERATORS)[int(rng.integers(len(NOISE_GENERATORS)))]
    return NOISE_GENERATORS[name](n, rate, rng)
