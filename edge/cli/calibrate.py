"""``nursery-edge calibrate --config FILE``: fit the cry sensitivity to the nursery's background.

Listens to the configured audio source for a while (keep the room as it is at night: fan,
heater and street noise on, nobody talking, the baby quiet), runs it through the device's cry
detector, and reports the noise floor, how close the background came to sounding like a cry,
and the highest ``cry_sensitivity`` that keeps it safely below the onset threshold. When the
model hears crying in the recording (at its own calibrated threshold) it proposes nothing: a
sensitivity fitted to a cry would be near-deaf to the next one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from edge.assembly import AssemblyError, build_audio, build_detector
from edge.audio import AudioSourceError
from edge.cli.arguments import add_config_argument, seconds_between
from edge.config import AgentConfig, ConfigError, load_config
from edge.detection.background import Background, record_background
from edge.detection.calibration import (
    MARGIN_LOGITS,
    noise_floor,
    on_threshold_for,
    propose,
    summarise_scores,
    windows_reaching,
)
from edge.detection.sensitivity import hysteresis_for
from edge.remote_config import NO_REVISION, RemoteConfig
from models.contract import DeviceSettings
from models.cry import HysteresisParams

EPILOG = """
examples:
  nursery-edge calibrate --config /etc/nursery-edge/config.toml
  nursery-edge calibrate --config /etc/nursery-edge/config.toml --seconds 120

Stop the agent first (sudo systemctl stop nursery-edge) if it holds the microphone. With
audio.source = "file" and audio.realtime = false the files are analysed faster than real time.

exit status: 0 with a proposal, 1 when the audio cannot be recorded or was too short, or when
the model heard crying in it (no proposal then), 2 when the configuration is invalid or has no
audio source.
"""
PROG = "nursery-edge calibrate"
BAR_WIDTH = 30
# Without a terminal (a log, a pipe) one progress line every this many seconds of audio.
PLAIN_PROGRESS_EVERY_S = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="measure the room's background and propose a cry_sensitivity",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_argument(parser)
    parser.add_argument(
        "--seconds",
        # At least a few detector windows (1 s long, one every 0.1 s); at most an hour.
        type=seconds_between(2.0, 3600.0),
        default=30.0,
        help="seconds of audio to listen to (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


class Progress:
    """``[#####.....] 12/30 s`` redrawn in place on a terminal; a line now and then otherwise."""

    def __init__(self, total_s: float, out: TextIO) -> None:
        self._total_s = total_s
        self._out = out
        self._tty = out.isatty()
        self._next_line_s = PLAIN_PROGRESS_EVERY_S

    def update(self, done_s: float) -> None:
        if self._tty:
            filled = min(BAR_WIDTH, int(BAR_WIDTH * done_s / self._total_s))
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self._out.write(f"\r[{bar}] {done_s:.0f}/{self._total_s:.0f} s")
            self._out.flush()
        elif done_s >= self._next_line_s:
            print(f"listened {done_s:.0f}/{self._total_s:.0f} s", file=self._out, flush=True)
            self._next_line_s += PLAIN_PROGRESS_EVERY_S

    def finish(self) -> None:
        if self._tty:
            self._out.write("\n")
            self._out.flush()


def effective_settings(config: AgentConfig) -> tuple[DeviceSettings, int]:
    """What the agent runs with: the file's ``[settings]`` plus the app's last accepted changes
    (kept in ``state_dir``), and that revision (``NO_REVISION`` when the app changed nothing)."""
    remote = RemoteConfig(
        config.device.id,
        config.settings,
        Path(config.device.state_dir) / "remote-settings.json",
        apply=lambda _settings: None,
        report=lambda _report: None,
        high_water_seq=lambda: 0,
    )
    try:
        return remote.restore(), remote.revision
    except OSError:  # state_dir not readable by this user: the file's settings are all we know
        return config.settings, NO_REVISION


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"{PROG}: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if config.audio.source == "none":
        print(f'{PROG}: audio.source = "none": there is nothing to listen to', file=sys.stderr)
        return 2
    try:
        source = build_audio(config)
        detector, _version = build_detector(config)
    except AssemblyError as exc:
        print(f"{PROG}: cannot start: {exc}", file=sys.stderr)
        return 1
    if source is None:  # audio.source = "none", refused above; keeps the type checker informed
        return 2
    calibrated = detector.hysteresis
    settings, revision = effective_settings(config)
    try:
        source.start()
        print(f"listening for {args.seconds:.0f} s; keep the room as at night", file=sys.stderr)
        progress = Progress(args.seconds, sys.stderr)
        background = record_background(
            source,
            detector,
            hysteresis_for(calibrated, settings),
            args.seconds,
            progress.update,
            calibrated=calibrated,
        )
        progress.finish()
    except AudioSourceError as exc:
        print(f"{PROG}: cannot record: {exc}", file=sys.stderr)
        print("`nursery-edge check` shows what to do about it", file=sys.stderr)
        return 1
    finally:
        source.close()
    if not background.scores:
        print(
            f"{PROG}: only {background.seconds:.1f} s of audio arrived, too little for a single "
            "detector window",
            file=sys.stderr,
        )
        return 1
    return report(background, calibrated, settings, revision, args.config, sys.stdout)


def report(
    background: Background,
    calibrated: HysteresisParams,
    settings: DeviceSettings,
    revision: int,
    config_path: Path,
    out: TextIO,
) -> int:
    """Print what was heard and the proposal; the exit status (1: crying heard, no proposal)."""
    floor = noise_floor(background.levels_dbfs)
    scores = summarise_scores(background.scores)
    current_on = on_threshold_for(calibrated, settings.cry_sensitivity)
    hot = windows_reaching(background.scores, current_on)
    proposal = propose(background.scores, calibrated)
    origin = "the app" if revision != NO_REVISION else "the config file"
    lines = [
        f"heard          {background.seconds:.1f} s of audio",
        f"noise floor    {floor.floor_dbfs:.1f} dBFS (10th percentile of {floor.blocks} blocks "
        f"of 100 ms), median {floor.median_dbfs:.1f} dBFS, max {floor.max_dbfs:.1f} dBFS",
        f"cry scores     p50 {scores.p50:.3f}, p95 {scores.p95:.3f}, p99 {scores.p99:.3f}, "
        f"max {scores.max:.3f} over {scores.windows} windows",
        f"now            cry_sensitivity {settings.cry_sensitivity:.2f} (from {origin}): onset "
        f"threshold {current_on:.3f}; {hot} window(s) reached it, "
        f"{background.alarms} cry alarm(s) would have been sent",
    ]
    if background.cries_at_s:
        lines.append(
            f"crying         {len(background.cries_at_s)} episode(s) at the model's calibrated "
            f"threshold {calibrated.on_threshold:.3f}, the first {background.cries_at_s[0]:.1f} s "
            "into the recording"
        )
        print("\n".join(lines), file=out)
        print(
            "\nrefused: the model heard crying in this recording, so it is not the room's "
            "background. A sensitivity fitted to it would be near-deaf to the next cry "
            f"(it would have been cry_sensitivity {proposal.sensitivity:.2f}). Calibrate again "
            "while the baby is quiet or out of the room; if nobody cried, something in the room "
            "sounds like crying to the model (TV, radio, a sibling): move the device away from it. "
            "The configuration was not changed.",
            file=out,
        )
        return 1
    lines += [
        f"proposed       cry_sensitivity {proposal.sensitivity:.2f}: onset threshold "
        f"{proposal.on_threshold:.3f}, {proposal.margin_logits:.1f} logits above the loudest "
        f"background window ({MARGIN_LOGITS:.1f} wanted)",
    ]
    print("\n".join(lines), file=out)
    if proposal.crosses_at_zero:
        print(
            "\nwarning: the background reaches the onset threshold even at sensitivity 0: "
            "something in the room sounds like crying to the model. Move the device away from "
            "the noise source (TV, radio, fan, a sibling) and calibrate again.",
            file=out,
        )
    elif proposal.too_noisy:
        print(
            "\nwarning: even at sensitivity 0 the background comes closer to the onset "
            f"threshold than the {MARGIN_LOGITS:.1f} logits wanted: expect false alarms. Move "
            "the device away from the noise source (TV, radio, fan, a sibling) and calibrate "
            "again.",
            file=out,
        )
    elif proposal.sensitivity > 0.5:
        print(
            "\nnote: above 0.5 (the model's calibrated point) fainter cries are caught, and also "
            "more non-cry sounds that did not occur while calibrating.",
            file=out,
        )
    print(
        f"\nput this in {config_path} and restart the agent (sudo systemctl restart "
        f"nursery-edge):\n\n    [settings]\n    cry_sensitivity = {proposal.sensitivity:.2f}\n\n"
        "or set the same value from the app, which applies it at once (a value set in the app "
        "overrides the file).",
        file=out,
    )
    return 0
