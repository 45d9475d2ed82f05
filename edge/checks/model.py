"""The model check: the configured cry model loads, and scores a window fast enough.

Also says which detector runs: "cascade" (small model, then YAMNet and the cry head), "small",
or "degraded: <why>" when the manifest has a stage two that does not load. While the agent
runs, its own mode (from its status file) is shown too: it loaded the files when it started.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edge.assembly import AssemblyError, build_detector, detector_mode_text
from edge.checks.result import CheckResult, Outcome
from edge.config import AgentConfig
from edge.local_status import daemon_is_running, read_status
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
        f"{version} ({detector_mode_text(detector)}): one "
        f"{detector.window_samples / features.sample_rate:.2f} s window scored in "
        f"{elapsed_ms:.1f} ms (features + inference; a new window every {budget_ms:.0f} ms)"
    )
    running_mode = _running_agent_mode(Path(config.device.state_dir))
    if running_mode is not None:
        detail = f"{detail}; the running agent: {running_mode}"
    if detector.mode == "degraded" or (running_mode or "").startswith("degraded"):
        # Still listening, with the small model alone: it misses more cries in noise.
        return CheckResult(
            NAME,
            Outcome.WARN,
            detail,
            "stage two's files (named in the manifest's cascade section) are missing or damaged: "
            "reinstall the package, or restore them next to detector.model_manifest",
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


def _running_agent_mode(state_dir: Path) -> str | None:
    """The running agent's detector mode; None when none runs, it is unreadable or older."""
    try:
        document = read_status(state_dir)
    except PermissionError:
        return None  # the broker check says that the state folder needs sudo
    if document is None or not daemon_is_running(document):
        return None
    mode = document.get("detector_mode")
    return str(mode) if mode else None


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
