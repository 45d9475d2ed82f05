"""Read a fixed stretch of audio from a started ``AudioSource`` (installer checks, calibration).

The daemon reads forever; ``nursery-edge check`` and ``calibrate`` want "N seconds, then stop",
including when the source gives out early: a finite file replay that ends, or a microphone that
opened but delivers nothing (a wedged USB device). Both end the capture instead of hanging.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.audio.base import AudioSource, FloatArray

# How long one read() may wait; short, so a stall is noticed within ``stall_s``.
READ_TIMEOUT_S = 0.5


def capture(
    source: AudioSource,
    seconds: float,
    consume: Callable[[FloatArray], None],
    *,
    progress: Callable[[float], None] | None = None,
    stall_s: float = 2.0,
) -> float:
    """Feed ``seconds`` of audio (exactly, the last chunk trimmed) from ``source`` to ``consume``.

    Returns the seconds actually read: fewer when the source ran out or nothing arrived for
    ``stall_s``. ``progress`` gets the audio seconds read so far after every chunk (audio time,
    not wall time: a fast file replay completes in a fraction of ``seconds``). Raises
    AudioSourceError when the input fails.
    """
    rate = source.sample_rate
    wanted = round(seconds * rate)
    got = 0
    last_audio_at = time.monotonic()
    while got < wanted:
        chunk = source.read(READ_TIMEOUT_S)
        if chunk is None:
            if source.exhausted or time.monotonic() - last_audio_at > stall_s:
                break
            continue
        last_audio_at = time.monotonic()
        samples = chunk.samples[: wanted - got]
        consume(samples)
        got += len(samples)
        if progress is not None:
            progress(got / rate)
    return got / rate
