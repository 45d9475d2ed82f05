"""MicrophoneSource against the real PortAudio of this machine, and its callback by hand.

sounddevice is not mocked: the not-found error is produced by a real device query (CI machines
have no microphone, so the list is usually empty). The PortAudio callback is a plain method, so
it is driven directly with the arrays and status flags PortAudio would pass.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from edge.audio import (
    AudioSourceError,
    InputDevice,
    MicrophoneNotFoundError,
    MicrophoneSource,
    list_input_devices,
)
from edge.audio.microphone import not_found_message

pytest.importorskip("sounddevice", reason="the pi extra (sounddevice + PortAudio) is missing")

REPO = Path(__file__).resolve().parents[2]
UNLIKELY_NAME = "Nursery Test Microphone That Does Not Exist"


@dataclass
class FakeStatus:
    """The fields of sounddevice.CallbackFlags the callback looks at."""

    input_overflow: bool = False


def _block(start: int, count: int) -> npt.NDArray[np.float32]:
    """(frames, channels) like PortAudio's indata; the second channel must be ignored."""
    mono = np.arange(start, start + count, dtype=np.float32) / 10_000
    return np.stack([mono, -np.ones(count, np.float32)], axis=1)


def _assert_lists_every_device(message: str) -> None:
    devices = list_input_devices()
    assert "audio.device" in message
    if devices:
        for device in devices:
            assert f"[{device.index}] {device.name}" in message
    else:
        assert "no input devices" in message


def test_importing_the_package_does_not_load_sounddevice() -> None:
    # A fresh interpreter: this one may have loaded sounddevice for another test already.
    probe = "import sys, edge.audio; print('sounddevice' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_list_input_devices_reports_only_devices_that_record() -> None:
    devices = list_input_devices()
    assert all(device.max_input_channels > 0 for device in devices)
    assert sum(device.is_default for device in devices) <= 1


def test_unknown_device_name_lists_the_devices_and_the_config_key() -> None:
    source = MicrophoneSource(UNLIKELY_NAME)
    with pytest.raises(MicrophoneNotFoundError) as caught:
        source.start()
    message = str(caught.value)
    assert UNLIKELY_NAME in message
    _assert_lists_every_device(message)
    stats = source.stats()
    assert stats.errors == 1
    assert stats.last_error is not None
    assert UNLIKELY_NAME in stats.last_error


def test_unknown_device_index_lists_the_devices() -> None:
    with pytest.raises(MicrophoneNotFoundError, match="index 9999") as caught:
        MicrophoneSource("9999").start()  # a digit string from a config file is an index
    _assert_lists_every_device(str(caught.value))


def test_message_lists_index_name_channels_and_rate() -> None:
    devices = [
        InputDevice(0, "bcm2835 Headphones", "ALSA", 2, 44100.0, is_default=False),
        InputDevice(2, "USB PnP Sound Device: Audio (hw:1,0)", "ALSA", 1, 48000.0, True),
    ]
    message = not_found_message("no input device matches audio.device = 'respeaker'", devices)
    assert "[0] bcm2835 Headphones (ALSA): 2 input channel(s), default 44100 Hz" in message
    assert "[2] USB PnP Sound Device: Audio (hw:1,0) (ALSA): 1 input channel(s)" in message
    assert "48000 Hz  (default)" in message
    assert "audio.device" in message
    assert "no input devices" not in message


def test_callback_copies_the_first_channel_into_chunks() -> None:
    source = MicrophoneSource(chunk_s=0.01)  # 160-sample blocks; never started
    source._callback(_block(0, 160), 160, None, FakeStatus())
    source._callback(_block(160, 160), 160, None, FakeStatus())
    first, second = source.read(0.0), source.read(0.0)
    assert first is not None
    assert second is not None
    np.testing.assert_array_equal(first.samples, _block(0, 160)[:, 0])
    np.testing.assert_array_equal(second.samples, _block(160, 160)[:, 0])
    assert first.captured_at < second.captured_at  # the first had 160 samples behind it
    assert source.read(0.0) is None
    stats = source.stats()
    assert (stats.chunks, stats.samples, stats.overflows) == (2, 320, 0)


def test_callback_counts_portaudio_overflows_and_ring_drops() -> None:
    source = MicrophoneSource(chunk_s=0.01, buffer_s=0.02)  # room for two blocks
    source._callback(_block(0, 160), 160, None, FakeStatus(input_overflow=True))
    for start in (160, 320, 480):  # the fourth block pushes out the first two
        source._callback(_block(start, 160), 160, None, FakeStatus())
    stats = source.stats()
    assert stats.overflows == 1 + 2
    assert stats.dropped_samples == 320
    oldest_left = source.read(0.0)
    assert oldest_left is not None
    np.testing.assert_array_equal(oldest_left.samples, _block(320, 160)[:, 0])


def test_a_stream_that_ends_by_itself_is_reported_as_an_error() -> None:
    source = MicrophoneSource(chunk_s=0.01)
    source._finished()  # PortAudio's finished callback without close(): the device went away
    with pytest.raises(AudioSourceError, match="stopped"):
        source.read(1.0)
    assert source.stats().errors == 1


def test_rejects_a_buffer_smaller_than_a_chunk() -> None:
    with pytest.raises(ValueError, match="chunk_s"):
        MicrophoneSource(chunk_s=0.5, buffer_s=0.1)
