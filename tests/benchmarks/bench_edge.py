"""Edge agent cost at real-time input: CPU per second of audio and peak memory.

Run:  .venv/bin/python -m tests.benchmarks.bench_edge [--seconds 60]

Starts a private Mosquitto and runs, one after the other, for the same wall time:
  1. ``nursery-edge run`` with file audio replayed in real time (cry and speech, looped), the
     simulated climate sensor and telemetry every 10 s - the whole agent as on a device, with
     the shipped two-stage cry detector (the cry keeps its gate open: stage two runs);
  2. the same agent with the small model alone (the manifest without its ``cascade``);
  3. the same agent with ``audio.source = "none"`` - what the agent costs without listening;
  4. a baseline process that replays the same audio in real time and only meters its level
     (no features, no model, no MQTT) - the floor any listening device pays.
The 8 kHz cry clip is resampled to 16 kHz once, before the runs: a microphone is opened at the
model rate, so the device never resamples (and never loads scipy). CPU is user+system time from /proc/<pid>/stat after a warm-up (model loading excluded); memory
is the child's own peak RSS (VmHWM), read just before it is stopped. Targets: <= 5 % of one
core and <= 120 MB peak RSS for the whole agent.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import soundfile

from models.cry import load_audio
from tests.benchmarks.cascade_cost import small_only_manifest
from tests.harness.edge_agent import write_config
from tests.harness.mosquitto import MosquittoBroker
from tests.harness.processes import console_script

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "tests" / "data" / "audio"
SOURCES = [AUDIO / "cry_donateacry.flac", AUDIO / "not_cry_speech_commands.flac"]
WARMUP_S = 5.0
CPU_TARGET_PCT = 5.0
RSS_TARGET_MB = 120.0
TICKS = os.sysconf("SC_CLK_TCK")
BASELINE_SNIPPET = """
import sys, time
from edge.audio import FileReplaySource
from edge.detection import SoundLevelMeter
source = FileReplaySource(sys.argv[1:], realtime=True, loop=True, gap_s=2.0)
meter = SoundLevelMeter(16000)
source.start()
while True:
    chunk = source.read(0.5)
    if chunk is not None:
        meter.add(chunk.samples)
"""


@dataclass(frozen=True)
class Measurement:
    name: str
    cpu_s: float
    wall_s: float
    peak_rss_mb: float

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 (utime, stime) are at 11 and 12 after the ")" that ends the command name.
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc status")


def measure(name: str, argv: list[str], seconds: float, log: Path) -> Measurement:
    with log.open("wb") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            time.sleep(WARMUP_S)
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{log.read_text()}")
            cpu_before, started = cpu_seconds(process.pid), time.monotonic()
            time.sleep(seconds)
            cpu_after, ended = cpu_seconds(process.pid), time.monotonic()
            rss = peak_rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    return Measurement(name, cpu_after - cpu_before, ended - started, rss)


def agent_config(
    workdir: Path,
    broker: MosquittoBroker,
    device_id: str,
    audio: dict[str, Any],
    detector: dict[str, Any] | None = None,
) -> Path:
    password = secrets.token_urlsafe(16)
    broker.add_user(device_id, password)
    return write_config(
        workdir / f"{device_id}.toml",
        {
            "device": {"id": device_id, "state_dir": workdir / device_id},
            "broker": {"host": broker.host, "port": broker.port, "password": password},
            "sensor": {"kind": "simulated"},
            "audio": audio,
            "detector": detector or {},
        },
    )


def playlist_at_model_rate(workdir: Path) -> list[Path]:
    """The test clips as 16 kHz WAV files, as the microphone would deliver them."""
    paths = []
    for source in SOURCES:
        path = workdir / f"{source.stem}-16k.wav"
        soundfile.write(str(path), load_audio(source, 16000), 16000)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured wall time per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        workdir = Path(tmp)
        playlist = playlist_at_model_rate(workdir)
        broker = MosquittoBroker(workdir / "broker")
        broker.start()
        try:
            file_audio = {"source": "file", "files": playlist, "realtime": True, "loop": True}
            agent = [console_script("nursery-edge"), "run", "--config"]
            small = {"model_manifest": small_only_manifest(workdir)}
            runs = [
                (
                    "agent: file audio in real time",
                    [*agent, str(agent_config(workdir, broker, "bench-audio", file_audio))],
                ),
                (
                    "agent: file audio, small model alone",
                    [*agent, str(agent_config(workdir, broker, "bench-small", file_audio, small))],
                ),
                (
                    "agent: no audio (climate + MQTT)",
                    [*agent, str(agent_config(workdir, broker, "bench-quiet", {"source": "none"}))],
                ),
                (
                    "baseline: replay + level meter",
                    [sys.executable, "-c", BASELINE_SNIPPET, *map(str, playlist)],
                ),
            ]
            results = [
                measure(name, argv, args.seconds, workdir / f"run-{index}.log")
                for index, (name, argv) in enumerate(runs)
            ]
        finally:
            broker.stop()
    report(results, args.seconds)
    full = results[0]
    met = full.cpu_pct <= CPU_TARGET_PCT and full.peak_rss_mb <= RSS_TARGET_MB
    print(
        f"\ntargets (<= {CPU_TARGET_PCT:.0f} % CPU, <= {RSS_TARGET_MB:.0f} MB): "
        f"{'met' if met else 'NOT met'}"
    )
    return 0


def report(results: list[Measurement], seconds: float) -> None:
    baseline = results[-1]
    print(f"Edge agent benchmark - {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"{seconds:.0f} s measured per run after {WARMUP_S:.0f} s warm-up; audio at 16 kHz\n")
    header = (
        f"{'process':<36} {'CPU % of a core':>15} {'CPU ms / audio s':>16} "
        f"{'peak RSS MB':>11} {'CPU x base':>10} {'RSS x base':>10}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        print(
            f"{result.name:<36} {result.cpu_pct:>15.2f} {1000 * result.cpu_s / result.wall_s:>16.1f} "
            f"{result.peak_rss_mb:>11.1f} {result.cpu_s / baseline.cpu_s:>10.2f} "
            f"{result.peak_rss_mb / baseline.peak_rss_mb:>10.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
