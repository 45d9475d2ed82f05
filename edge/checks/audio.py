"""The microphone check: record a few seconds from the configured source and judge the signal."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.assembly import AssemblyError, build_audio
from edge.audio import AudioSourceError, MicrophoneNotFoundError
from edge.audio.base import FloatArray
from edge.audio.capture import capture
from edge.audio.microphone import list_input_devices, resolve_input_device
from edge.checks.result import CheckResult, Outcome
from edge.config import AgentConfig

NAME = "microphone"
# int16 full scale arrives as 32767/32768 = 0.99997; converters that clip seldom hit exactly
# 1.0, so anything within 0.01 dB of full scale counts as clipped.
CLIP_LEVEL = 0.999
# A clap may clip a few samples harmlessly; more than 0.1 % of the time means the gain is too
# high, and clipping smears energy across the spectrum the cry model looks at.
CLIP_WARN_RATIO = 0.001
FLOOR_DBFS = -120.0
MIXER_HINT = "alsamixer (F6 picks the sound card, F4 shows the capture controls)"


@dataclass(frozen=True, slots=True)
class Levels:
    seconds: float
    rms_dbfs: float
    peak_dbfs: float
    clipped_ratio: float  # fraction of samples at full scale
    digital_silence: bool  # every sample exactly zero: muted, or capture gain at 0


def _dbfs(amplitude: float) -> float:
    return max(FLOOR_DBFS, 20.0 * math.log10(amplitude)) if amplitude > 0 else FLOOR_DBFS


def measure(samples: FloatArray, sample_rate: int) -> Levels:
    """Levels of mono float32 samples; RMS in dBFS relative to a full-scale square wave."""
    if samples.size == 0:
        return Levels(0.0, FLOOR_DBFS, FLOOR_DBFS, 0.0, True)
    magnitude = np.abs(samples.astype(np.float64))
    return Levels(
        seconds=samples.size / sample_rate,
        rms_dbfs=_dbfs(float(np.sqrt(np.mean(np.square(magnitude))))),
        peak_dbfs=_dbfs(float(magnitude.max())),
        clipped_ratio=float(np.count_nonzero(magnitude >= CLIP_LEVEL)) / samples.size,
        digital_silence=not bool(magnitude.any()),
    )


def check_microphone(config: AgentConfig, seconds: float) -> CheckResult:
    section = config.audio
    try:
        source = build_audio(config)
    except AssemblyError as exc:
        return CheckResult(NAME, Outcome.FAIL, str(exc), _files_fix())
    if source is None:
        return CheckResult(NAME, Outcome.SKIP, 'audio.source = "none"')
    chunks: list[FloatArray] = []
    try:
        source.start()
        got_s = capture(source, seconds, chunks.append)
    except MicrophoneNotFoundError as exc:
        return CheckResult(NAME, Outcome.FAIL, str(exc).splitlines()[0], _no_microphone_fix())
    except AudioSourceError as exc:
        fix = _files_fix() if section.source == "file" else _silent_device_fix()
        return CheckResult(NAME, Outcome.FAIL, str(exc).splitlines()[0], fix)
    finally:
        source.close()
    where = _describe_source(config)
    if got_s == 0:
        return CheckResult(
            NAME, Outcome.FAIL, f"{where}: no audio arrived at all", _silent_device_fix()
        )
    levels = measure(np.concatenate(chunks), source.sample_rate)
    detail = (
        f"{where}, {source.sample_rate} Hz, {levels.seconds:.1f} s: level "
        f"{levels.rms_dbfs:.1f} dBFS, peak {levels.peak_dbfs:.1f} dBFS, clipping "
        f"{levels.clipped_ratio:.2%}"
    )
    if got_s < seconds:
        detail += f" (the audio ended after {got_s:.1f} s)"
    if levels.digital_silence:
        fix = (
            "audio.files: the file holds only silence; replay a recording of the room"
            if section.source == "file"
            else f"the input delivers exact zeros: unmute it and raise the capture gain in "
            f"{MIXER_HINT}, or choose another input with audio.device"
        )
        return CheckResult(NAME, Outcome.WARN, f"{detail}; digital silence", fix)
    if levels.clipped_ratio > CLIP_WARN_RATIO:
        return CheckResult(
            NAME,
            Outcome.WARN,
            f"{detail}; clipping",
            f"lower the capture gain in {MIXER_HINT}, or move the microphone away from loud "
            "sources: clipped audio distorts what the cry model hears",
        )
    return CheckResult(NAME, Outcome.PASS, detail)


def _describe_source(config: AgentConfig) -> str:
    section = config.audio
    if section.source == "file":
        return f"file replay of {len(section.files)} file(s)"
    device = section.device if section.device != "" else None
    try:
        return f"microphone {resolve_input_device(device).describe()}"
    except MicrophoneNotFoundError:  # it recorded a moment ago; only the name is missing
        return f"microphone {section.device!r}"


def _no_microphone_fix() -> str:
    try:
        devices = list_input_devices()
    except MicrophoneNotFoundError as exc:
        listing = [f"(cannot list the input devices: {str(exc).splitlines()[0]})"]
    else:
        listing = (
            ["input devices PortAudio sees now:", *(f"  {d.describe()}" for d in devices)]
            if devices
            else ["PortAudio sees no input devices at all"]
        )
    return "\n".join(
        [
            "set audio.device in the config to a part of the microphone's name or its index"
            ' ("" = the system\'s default input);',
            *listing,
            "no device listed: plug the microphone in and check that `arecord -l` lists it;",
            "install PortAudio with `sudo apt-get install libportaudio2` and the pi extra with"
            " `pip install 'nursery[pi]'`",
        ]
    )


def _silent_device_fix() -> str:
    return (
        "the microphone opened but delivered nothing: re-plug it, check that `arecord -l` lists "
        "it, and stop other programs recording from it (`sudo fuser -v /dev/snd/*`)"
    )


def _files_fix() -> str:
    return (
        "audio.files: list readable WAV/FLAC/OGG files (paths relative to the directory the "
        'agent starts in), or set audio.source = "microphone"'
    )
