"""The model check: the configured cry model loads, and scores a window fast enough."""

from __future__ import annotations

import time

import numpy as np

from edge.assembly import AssemblyError, build_detector
from edge.checks.result import CheckResult, Outcome
from edge.config import AgentConfig
from models.cry import RuntimeMissingError

NAME = "model"


def check_model(config: AgentConfig) -> CheckResult:
    if config.audio.source == "none":
        return CheckResult(NAME, Outcome.SKIP, 'audio.source = "none": no cry detection runs')
    try:
        detector, version = build_detector(config)
    except AssemblyError as exc:
        return CheckResult(NAME, Outcome.FAIL, str(exc), _fix(exc))
    window = np.zeros(detector.window_samples, dtype=np.float32)
    # The first call allocates the interpreter's buffers and is not what the daemon pays per
    # window; time the second.
    detector.window_scores(window)
    started = time.perf_counter()
    detector.window_scores(window)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    features, windows = detector.features, detector.windows
    budget_ms = 1000.0 * windows.hop_frames * features.hop_length / features.sample_rate
    detail = (
        f"{version}: one {detector.window_samples / features.sample_rate:.2f} s window scored "
        f"in {elapsed_ms:.1f} ms (features + inference; a new window every {budget_ms:.0f} ms)"
    )
    if elapsed_ms > budget_ms:
        return CheckResult(
            NAME,
            Outcome.WARN,
            f"{detail}; slower than real time",
            "the detector would fall behind the microphone: raise detector.num_threads (up to "
            "4), stop other heavy programs, or use a Raspberry Pi 3 or newer",
        )
    return CheckResult(NAME, Outcome.PASS, detail)


def _fix(exc: AssemblyError) -> str:
    if isinstance(exc.__cause__, RuntimeMissingError):
        return (
            "install the TFLite runtime: `pip install ai-edge-litert` (64-bit OS) or "
            "`pip install tflite-runtime` (32-bit Raspberry Pi OS)"
        )
    return (
        "detector.model_manifest must name a model manifest JSON with its .tflite next to it; "
        "remove the key to use the model shipped with the package (reinstall the package if "
        "that one fails its checksum)"
    )
