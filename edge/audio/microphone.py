"""The live microphone, through PortAudio (``sounddevice``), opened at the model's rate.

The stream is opened mono float32 at 16 kHz, so the detector receives the samples unchanged:
ALSA's ``plug``/``default`` devices resample in the driver, and resampling chunk by chunk here
would put seams at every chunk boundary (see ``CryDetector.feed``). ``sounddevice`` is imported
only when a device is listed or opened, so the rest of the agent runs without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from edge.audio.base import (
    MODEL_SAMPLE_RATE,
    AudioChunk,
    AudioSourceError,
    AudioStats,
    FloatArray,
    MicrophoneNotFoundError,
)
from edge.audio.ring import SampleRing

logger = logging.getLogger(__name__)

CONFIG_KEY = "audio.device"


@dataclass(frozen=True, slots=True)
class InputDevice:
    """One PortAudio device that can record."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool

    def describe(self) -> str:
        mark = "  (default)" if self.is_default else ""
        return (
            f"[{self.index}] {self.name} ({self.hostapi}): {self.max_input_channels} input "
            f"channel(s), default {self.default_samplerate:.0f} Hz{mark}"
        )


def _sounddevice() -> Any:
    try:
        import sounddevice
    except ImportError as exc:
        raise MicrophoneNotFoundError(
            f"cannot use a microphone: the sounddevice package is missing ({exc}); install "
            "the device extra (pip install 'nursery[pi]') or set audio.source to \"file\""
        ) from exc
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise MicrophoneNotFoundError(
            f"cannot use a microphone: the PortAudio library is missing ({exc}); install it "
            "(sudo apt install libportaudio2)"
        ) from exc
    return sounddevice


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel, as PortAudio sees it now."""
    sd = _sounddevice()
    try:
        devices = list(sd.query_devices())
        hostapis = list(sd.query_hostapis())
    except sd.PortAudioError as exc:
        raise MicrophoneNotFoundError(f"cannot list audio devices: {exc}") from exc
    try:
        default_index: int | None = int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError):
        default_index = None  # no default input (no devices, or none configured)
    return [
        InputDevice(
            index=index,
            name=str(info["name"]),
            hostapi=str(hostapis[info["hostapi"]]["name"]),
            max_input_channels=int(info["max_input_channels"]),
            default_samplerate=float(info["default_samplerate"]),
            is_default=index == default_index,
        )
        for index, info in enumerate(devices)
        if info["max_input_channels"] > 0
    ]


def not_found_message(problem: str, devices: list[InputDevice]) -> str:
    """The error text: what went wrong, every input device, and how to choose one."""
    if devices:
        listing = "input devices:\n" + "\n".join(f"  {d.describe()}" for d in devices)
    else:
        listing = (
            "PortAudio sees no input devices at all: is the microphone plugged in and "
            "listed by `arecord -l`?"
        )
    return (
        f"{problem}\n{listing}\nChoose one with {CONFIG_KEY} in the config file: a part of its "
        "name or its index; empty means the system's default input. A microphone that cannot "
        f"record at {MODEL_SAMPLE_RATE} Hz itself works through ALSA's 'default' or 'plughw' "
        "device, which resample."
    )


def resolve_input_device(device: str | int | None) -> InputDevice:
    """The device named by ``audio.device``: an index, a name substring, or None/"" = default.

    A string of digits counts as an index, since config values often arrive as text.
    """
    devices = list_input_devices()
    if isinstance(device, str):
        device = device.strip()
        device = int(device) if device.isdigit() else (device or None)
    if device is None:
        matches = [d for d in devices if d.is_default]
        problem = "no default audio input device"
    elif isinstance(device, int):
        matches = [d for d in devices if d.index == device]
        problem = f"no input device with index {device} ({CONFIG_KEY} = {device})"
    else:
        wanted = device.lower()
        matches = [d for d in devices if wanted in f"{d.name}, {d.hostapi}".lower()]
        exact = [d for d in matches if d.name.lower() == wanted]
        matches = exact or matches
        problem = f"no input device matches {CONFIG_KEY} = {device!r}"
        if len(matches) > 1:
            problem = f"{CONFIG_KEY} = {device!r} matches {len(matches)} devices; be more specific"
    if len(matches) != 1:
        raise MicrophoneNotFoundError(not_found_message(problem, devices))
    return matches[0]


class MicrophoneSource:
    """Live audio from a sound card; the PortAudio callback fills a ring the reader drains.

    ``chunk_s`` sets the PortAudio block size and so the size of the chunks ``read`` returns;
    ``buffer_s`` bounds how far the reader may fall behind before the oldest audio is dropped.
    """

    def __init__(
        self,
        device: str | int | None = None,
        *,
        sample_rate: int = MODEL_SAMPLE_RATE,
        chunk_s: float = 0.1,
        buffer_s: float = 10.0,
    ) -> None:
        if chunk_s <= 0 or buffer_s < chunk_s:
            raise ValueError(f"need 0 < chunk_s <= buffer_s, got {chunk_s} and {buffer_s}")
        self.device = device
        self.sample_rate = sample_rate
        self.chunk_samples = max(1, round(chunk_s * sample_rate))
        self._ring = SampleRing(max(self.chunk_samples, round(buffer_s * sample_rate)))
        self._stream: Any = None
        self._stream_failed = False
        self._stopping = False
        self._input_overflows = 0  # written only by the callback thread
        self._chunks = self._samples = self._errors = 0
        self._last_error: str | None = None

    @property
    def exhausted(self) -> bool:
        return False  # a microphone never runs out

    def start(self) -> None:
        if self._stream is not None:
            return
        try:
            sd = _sounddevice()
            chosen = resolve_input_device(self.device)
        except MicrophoneNotFoundError as exc:
            self._record_error(exc)
            raise
        self._ring.reset()
        self._stream_failed = self._stopping = False
        try:
            sd.check_input_settings(
                device=chosen.index, channels=1, dtype="float32", samplerate=self.sample_rate
            )
            stream = sd.InputStream(
                samplerate=self.sample_rate,
                channels=1,
                dtype="float32",
                device=chosen.index,
                blocksize=self.chunk_samples,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (sd.PortAudioError, ValueError) as exc:
            error = MicrophoneNotFoundError(
                not_found_message(
                    f"cannot record mono {self.sample_rate} Hz from {chosen.describe()}: {exc}",
                    list_input_devices(),
                )
            )
            self._record_error(error)
            raise error from exc
        try:
            stream.start()
        except sd.PortAudioError as exc:
            stream.close()
            error = MicrophoneNotFoundError(
                not_found_message(f"cannot start {chosen.describe()}: {exc}", list_input_devices())
            )
            self._record_error(error)
            raise error from exc
        self._stream = stream
        logger.info("recording from %s at %d Hz", chosen.describe(), self.sample_rate)

    def read(self, timeout_s: float) -> AudioChunk | None:
        got = self._ring.read(self.chunk_samples, timeout_s)
        if got is None:
            if self._stream_failed:
                error = AudioSourceError("the audio stream stopped (microphone unplugged?)")
                self._record_error(error)
                raise error
            return None
        self._chunks += 1
        self._samples += len(got.samples)
        captured_at = got.written_at - got.backlog / self.sample_rate
        return AudioChunk(got.samples, captured_at)

    def stats(self) -> AudioStats:
        return AudioStats(
            chunks=self._chunks,
            samples=self._samples,
            overflows=self._input_overflows + self._ring.overflows,
            dropped_samples=self._ring.dropped_samples,
            errors=self._errors,
            last_error=self._last_error,
        )

    def close(self) -> None:
        stream, self._stream = self._stream, None
        self._stopping = True
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # a vanished device may fail to stop; it is closed anyway
                logger.warning("closing the audio stream: %s", exc)
        self._ring.close()

    # ---- PortAudio's threads: no logging, no allocation beyond the ring's copy ----

    def _callback(self, indata: FloatArray, frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self._input_overflows += 1
        self._ring.write(indata[:, 0])

    def _finished(self) -> None:
        if not self._stopping:  # the stream ended on its own: wake the reader to report it
            self._stream_failed = True
            self._ring.close()

    def _record_error(self, exc: Exception) -> None:
        self._errors += 1
        self._last_error = str(exc).splitlines()[0]  # the problem; the device list is long
