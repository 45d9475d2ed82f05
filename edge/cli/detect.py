"""``nursery-edge detect AUDIO_FILE``: run the live cry detector over a file, as fast as possible.

The file is fed through the same streaming path as the daemon's microphone (chunked samples ->
StreamingLogMel -> windows -> model -> EpisodeTracker), so the episodes printed here are the
episodes the device would have reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

from models.cry import AudioLoadError, CryDetector, CryDetectorError, CryEvent, load_audio
from models.cry.audio import to_mono

DEFAULT_CHUNK_S = 0.5  # what a sound card callback might hand over; any size gives the same result
READ_BLOCK_S = 30.0  # file read size; bounds memory for files of any length


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="detect cry episodes in an audio file with the live detector",
        description="Stream an audio file (WAV, FLAC, OGG, ...) through the device's cry "
        "detector - the same features, model and hysteresis as the daemon - as fast as "
        "possible, and print the cry episodes. Which detector runs (cascade, small, or "
        "degraded: why) is said on stderr.",
        epilog="examples:\n  nursery-edge detect night.wav\n"
        "  nursery-edge detect --json tests/data/audio/cry_donateacry.flac",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("audio_file", type=Path, metavar="AUDIO_FILE", help="audio file to scan")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per event (cry_started / cry_ended)",
    )
    parser.add_argument(
        "--model-manifest",
        type=Path,
        default=None,
        help="model manifest JSON (default: the model shipped with the package)",
    )
    parser.add_argument(
        "--chunk-s",
        type=float,
        default=DEFAULT_CHUNK_S,
        help="seconds of audio per streaming chunk (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def _blocks(path: Path, rate: int, chunk_s: float) -> Iterator[npt.NDArray[np.float32]]:
    """Chunks at the model rate; files already at that rate are read block by block."""
    try:
        info = soundfile.info(str(path))
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioLoadError(f"cannot read audio file {path}: {exc}") from exc
    chunk = max(1, round(chunk_s * rate))
    if info.samplerate == rate:
        block = chunk * max(1, round(READ_BLOCK_S / chunk_s))
        for data in soundfile.blocks(str(path), blocksize=block, dtype="float32"):
            samples = to_mono(np.asarray(data))
            for start in range(0, len(samples), chunk):
                yield samples[start : start + chunk]
        return
    # Other rates are resampled whole: a polyphase filter over the full signal has no seams.
    samples = load_audio(path, rate)
    for start in range(0, len(samples), chunk):
        yield samples[start : start + chunk]


def mode_text(detector: CryDetector) -> str:
    """ "cascade", "small" (a manifest without stage two) or "degraded: <why>"."""
    if detector.mode == "degraded":
        return f"degraded: {detector.degraded_reason}"
    return detector.mode


def event_json(event: CryEvent) -> str:
    record: dict[str, object]
    if event.kind == "cry_started":
        record = {
            "event": event.kind,
            "t": round(event.t, 3),
            "confidence": round(event.confidence, 4),
        }
    else:
        record = {
            "event": event.kind,
            "t": round(event.t, 3),
            "duration_s": round(event.duration_s or 0.0, 3),
        }
    # Only when the detector names what it heard: scripts reading the older shape see no change.
    if event.heard:
        record["heard"] = [{"label": h.label, "score": round(h.score, 4)} for h in event.heard]
    return json.dumps(record)


def event_text(event: CryEvent) -> str:
    heard = "".join(f", {h.label} {h.score:.2f}" for h in event.heard)
    heard = f"  heard: {heard[2:]}" if heard else ""
    if event.kind == "cry_started":
        return (
            f"{event.t:9.2f} s  cry started  (confidence {event.confidence:.2f}, "
            f"{event.level_dbfs:.1f} dBFS, known at {event.emitted_at_s:.2f} s){heard}"
        )
    return f"{event.t:9.2f} s  cry ended    (lasted {event.duration_s or 0.0:.2f} s){heard}"


def run(args: argparse.Namespace) -> int:
    if not Path(args.audio_file).is_file():  # libsndfile would only say "System error"
        print(f"nursery-edge detect: no such file: {args.audio_file}", file=sys.stderr)
        return 2
    try:
        detector = CryDetector.from_manifest(args.model_manifest)
        # On stderr: stdout stays the events (and --json's one object per line) it always was.
        print(f"nursery-edge detect: cry detector: {mode_text(detector)}", file=sys.stderr)
        events: list[CryEvent] = []
        for chunk in _blocks(args.audio_file, detector.sample_rate, args.chunk_s):
            for event in detector.feed(chunk):
                events.append(event)
                print(event_json(event) if args.json else event_text(event), flush=True)
        for event in detector.finish():
            events.append(event)
            print(event_json(event) if args.json else event_text(event), flush=True)
    except CryDetectorError as exc:
        print(f"nursery-edge detect: error: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        episodes = sum(event.kind == "cry_started" for event in events)
        print(f"{episodes} cry episode(s) in {detector.stream_time_s:.1f} s of audio")
    return 0
