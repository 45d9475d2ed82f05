"""Cry detector benchmarks, every baseline measured side by side in one run on one core.

Run:  .venv/bin/python -m tests.benchmarks.bench_cry [--seconds 60] [--long-file-minutes 60]
      [--hour-minutes 60]

Prints the cost per second of audio as a multiple of real time for: streaming log-mel (each
frame once), recomputing the log-mel of the whole 1 s window at every hop, a librosa log-mel of
the same parameters (recomputed per hop, and once over the whole clip), model inference, and
features + inference through ``CryDetector.feed`` (the small model alone, today's detector, and
the two-stage cascade); the model size; the cascade's stages and a quiet and a busy hour, beside
the small model alone (``cascade_cost``); and the peak RSS and speed of ``nursery-edge detect``
subprocesses on a long file, with the cascade and with the small model alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile

from models.cry import CryDetector, ModelManifest, StreamingLogMel, load_manifest, log_mel
from models.cry.detector import default_model_manifest_path
from models.cry.features import LogMelParams
from models.training.noise import pink_noise
from tests.benchmarks import cascade_cost

REPEATS = 5  # best of five: other work on this shared core only ever adds time
CHUNK_S = 0.5  # a typical sound-card buffer handed to the daemon
REPO = Path(__file__).resolve().parents[2]
CRY_CLIP = REPO / "tests" / "data" / "audio" / "cry_donateacry.flac"
# The child reports its own peak RSS (VmHWM, kB) from /proc: ru_maxrss - of the child or of
# RUSAGE_CHILDREN - would also count the pages of this large benchmark process that the child
# held between fork and exec, because Linux carries that maximum across execve.
DETECT_SNIPPET = (
    "import argparse, sys; from edge.cli import detect; "
    "p = argparse.ArgumentParser(); detect.register(p.add_subparsers()); "
    "a = p.parse_args(sys.argv[1:]); code = a.handler(a); "
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
    "print(hwm.split()[1], file=sys.stderr); sys.exit(code)"
)


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def best_time(work: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def test_audio(seconds: float, rate: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    audio = pink_noise(int(seconds * rate), rate, rng) * np.float32(0.01)
    from models.cry import load_audio

    cry = load_audio(CRY_CLIP, rate)
    for start in range(0, len(audio) - len(cry), 20 * rate):
        audio[start : start + len(cry)] += cry
    return audio


def streaming_features(audio: np.ndarray, params: LogMelParams) -> None:
    stream = StreamingLogMel(params)
    chunk = int(CHUNK_S * params.sample_rate)
    for start in range(0, len(audio), chunk):
        stream.push(audio[start : start + chunk])


def recompute_window_features(
    audio: np.ndarray, params: LogMelParams, window: int, hop: int, logmel: Callable[..., object]
) -> None:
    for end in range(window, len(audio) + 1, hop):
        logmel(audio[end - window : end], params)


def librosa_log_mel(samples: np.ndarray, params: LogMelParams) -> np.ndarray:
    import librosa

    pad = (params.n_fft - params.frame_length) // 2  # librosa centres the window in n_fft
    mel = librosa.feature.melspectrogram(
        y=np.pad(samples, (pad, pad)),
        sr=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        win_length=params.frame_length,
        window="hann",
        center=False,
        power=2.0,
        n_mels=params.n_mels,
        fmin=params.fmin_hz,
        fmax=params.fmax_hz,
        htk=True,
        norm=None,
    )
    return np.asarray(10.0 * np.log10(np.maximum(mel, params.power_floor)).T)


def detector_feed(detector: CryDetector, audio: np.ndarray) -> None:
    detector.reset()
    chunk = int(CHUNK_S * detector.sample_rate)
    for start in range(0, len(audio), chunk):
        detector.feed(audio[start : start + chunk])
    detector.finish()


def detect_subprocess(long_file: Path, manifest: Path | None = None) -> tuple[float, float]:
    """(peak RSS in MiB, wall seconds) of ``nursery-edge detect`` on ``long_file``."""
    command = [sys.executable, "-c", DETECT_SNIPPET, "detect", "--json", str(long_file)]
    if manifest is not None:
        command += ["--model-manifest", str(manifest)]
    started = time.perf_counter()
    done = subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    wall = time.perf_counter() - started
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return peak_kib / 1024.0, wall


def write_long_file(path: Path, minutes: float, rate: int) -> None:
    block = test_audio(60.0, rate)
    with soundfile.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as f:
        for _ in range(int(minutes)):
            f.write(block)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per measurement")
    parser.add_argument(
        "--long-file-minutes",
        type=float,
        default=60.0,
        help="length of the file for the detect subprocess (0 to skip)",
    )
    parser.add_argument(
        "--hour-minutes",
        type=int,
        default=60,
        help="length of the quiet and the busy hour for the cascade (0 to skip)",
    )
    args = parser.parse_args()
    pinning = pin_to_one_core()
    manifest = load_manifest(default_model_manifest_path())
    params = manifest.features
    detector = cascade_cost.small_only(manifest)
    full = cascade_cost.cascade(manifest)
    audio = test_audio(args.seconds, params.sample_rate)
    window, hop = detector.window_samples, manifest.windows.hop_frames * params.hop_length
    librosa_log_mel(audio[:window], params)  # warm-up: librosa/numba compile on first use
    n_windows = (len(audio) - window) // hop + 1
    windows = np.random.default_rng(1).random(
        (n_windows, manifest.windows.window_frames, params.n_mels), dtype=np.float32
    )
    rows = [
        (
            "log-mel, streaming (each frame once)",
            best_time(lambda: streaming_features(audio, params)),
        ),
        (
            "log-mel, recompute 1 s window every hop",
            best_time(lambda: recompute_window_features(audio, params, window, hop, log_mel)),
        ),
        (
            "librosa log-mel, recompute window every hop",
            best_time(
                lambda: recompute_window_features(audio, params, window, hop, librosa_log_mel)
            ),
        ),
        ("log-mel, whole clip at once (numpy)", best_time(lambda: log_mel(audio, params))),
        ("librosa log-mel, whole clip at once", best_time(lambda: librosa_log_mel(audio, params))),
        (
            "model inference only (int8, 1 thread)",
            best_time(lambda: [detector.scorer.score(w) for w in windows]),
        ),
        (
            "features + inference, small model alone (CryDetector.feed)",
            best_time(lambda: detector_feed(detector, audio)),
        ),
        (
            "features + inference, cascade (CryDetector.feed)",
            best_time(lambda: detector_feed(full, audio)),
        ),
    ]
    seconds = len(audio) / params.sample_rate
    streaming = rows[0][1]
    print(f"# Cry detector benchmark - {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{pinning}; {seconds:.0f} s of audio, {CHUNK_S} s chunks, best of {REPEATS}"
    )
    print()
    print("| measurement | ms per s of audio | x real time | cost vs streaming log-mel |")
    print("|---|---:|---:|---:|")
    for name, elapsed in rows:
        print(
            f"| {name} | {1000 * elapsed / seconds:.3f} | {seconds / elapsed:,.0f} | "
            f"{elapsed / streaming:.1f}x |"
        )
    print()
    print(
        f"- model size: {manifest.model_path.stat().st_size / 1024:.1f} KiB "
        f"({manifest.model_path.name})"
    )
    assert full.cascade is not None
    print(
        f"- stage two: YAMNet {_kib(manifest, 'backbone')} KiB, "
        f"cry head {_kib(manifest, 'head')} KiB"
    )
    print()
    print(f"Cascade stages, CPU time on one core, best of {REPEATS}:")
    print()
    cascade_cost.print_stage_table(cascade_cost.stage_costs(detector, full, audio, REPEATS))
    if args.hour_minutes > 0:
        gate = full.cascade.gate
        level_only = cascade_cost.cascade(manifest, replace(gate, small_threshold=1.0))
        hours = [
            cascade_cost.hour_cost(detector, "small model alone", kind, args.hour_minutes)
            for kind in ("quiet", "busy")
        ]
        hours += [
            cascade_cost.hour_cost(full, "cascade (shipped gate)", kind, args.hour_minutes)
            for kind in ("quiet", "busy")
        ]
        hours.append(
            cascade_cost.hour_cost(
                level_only,
                "cascade, gate by level only (small_threshold 1.0)",
                "quiet",
                args.hour_minutes,
            )
        )
        print()
        print(f"A synthesized {args.hour_minutes} min hour, fed in {CHUNK_S} s chunks (CPU time):")
        print()
        cascade_cost.print_hour_table(hours)
    if args.long_file_minutes > 0:
        with tempfile.TemporaryDirectory() as folder:
            long_file = Path(folder) / "long.wav"
            write_long_file(long_file, args.long_file_minutes, params.sample_rate)
            small_manifest = cascade_cost.small_only_manifest(Path(folder))
            for name, chosen in (("cascade", None), ("small model alone", small_manifest)):
                peak_mib, wall = detect_subprocess(long_file, chosen)
                print(
                    f"- `nursery-edge detect` ({name}) on a {args.long_file_minutes:.0f} min "
                    f"16 kHz WAV: peak RSS {peak_mib:.0f} MiB, {wall:.1f} s wall "
                    f"({args.long_file_minutes * 60 / wall:,.0f}x real time incl. start-up and "
                    "decoding)"
                )
    return 0


def _kib(manifest: ModelManifest, part: str) -> str:
    assert manifest.cascade is not None
    path = manifest.cascade.backbone_path if part == "backbone" else manifest.cascade.head_path
    return f"{path.stat().st_size / 1024:,.0f}"


if __name__ == "__main__":
    sys.exit(main())
