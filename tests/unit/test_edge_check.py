"""``nursery-edge check``: each check against the real parts it can reach without a Raspberry Pi
(simulated sensor, file audio, the shipped model, this machine's clock and network stack), and
the table the installer reads. The broker login paths run against Mosquitto in
``tests/integration/test_edge_check.py``."""

from __future__ import annotations

import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from edge.checks import CheckResult, Outcome, run_checks
from edge.checks.audio import CLIP_LEVEL, check_microphone, measure
from edge.checks.broker import broker_settings, check_broker
from edge.checks.clock import judge_clock
from edge.checks.model import check_model
from edge.checks.running_agent import judge_running_agent
from edge.checks.sensor import check_sensor
from edge.cli import main
from edge.config import AgentConfig, parse_config
from edge.local_status import write_status
from edge.timesync import ntp_synchronised
from tests.harness.network import free_port

REPO = Path(__file__).resolve().parents[2]
CRY = REPO / "tests" / "data" / "audio" / "cry_donateacry.flac"
RATE = 16_000


def _document(tmp_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "device": {"id": "nursery-check-1", "state_dir": str(tmp_path / "state")},
        "broker": {"host": "127.0.0.1", "port": free_port()},
        "sensor": {"kind": "simulated"},
        "audio": {"source": "file", "files": [str(CRY)], "realtime": False},
    }
    for name, values in sections.items():
        document[name] = {**document.get(name, {}), **values}
    return document


def _config(tmp_path: Path, **sections: dict[str, Any]) -> AgentConfig:
    return parse_config(_document(tmp_path, **sections))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return str(value)


def _write(tmp_path: Path, document: dict[str, Any]) -> Path:
    lines = []
    for section, values in document.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wav(tmp_path: Path, name: str, samples: np.ndarray[Any, Any]) -> Path:
    path = tmp_path / name
    soundfile.write(str(path), samples, RATE, subtype="FLOAT")
    return path


# ---- the whole command ----


def test_a_simulated_sensor_and_file_audio_pass_and_the_table_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path, _document(tmp_path))
    status = main(["check", "--config", str(config), "--seconds", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["CHECK", "RESULT", "DETAIL"]
    rows = {line.split()[0]: line for line in lines[1:] if line[:1].isalpha()}
    assert list(rows) == ["config", "sensor", "microphone", "model", "broker", "clock"]
    for name in ("config", "sensor", "microphone", "model"):
        assert rows[name].split()[1] == "PASS", rows[name]
    assert "°C" in rows["sensor"]
    assert "% RH" in rows["sensor"]
    assert "16000 Hz, 1.0 s" in rows["microphone"]
    assert "nursery-cry-detector-" in rows["model"]
    # Nothing listens on the broker port here: a FAIL with its fix on the next line.
    assert rows["broker"].split()[1] == "FAIL"
    fix = lines[lines.index(rows["broker"]) + 1]
    assert fix.strip().startswith("fix: check broker.host")
    assert status == 1
    assert "fix the FAIL lines above" in lines[-1]


def test_an_invalid_config_exits_2_naming_the_key_and_skips_what_needs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path, _document(tmp_path, sensor={"read_interval_s": 0.5}))
    assert main(["check", "--config", str(config)]) == 2
    out = capsys.readouterr().out
    assert "sensor.read_interval_s" in out
    assert "fix: edit the key named above" in out
    outcomes = [line.split()[:2] for line in out.splitlines()[1:7]]
    assert outcomes[0] == ["config", "FAIL"]
    assert [row for row in outcomes if row[1] == "SKIP"] == [
        ["sensor", "SKIP"],
        ["microphone", "SKIP"],
        ["model", "SKIP"],
        ["broker", "SKIP"],
    ]
    assert "clock" in out


def test_a_missing_config_file_points_to_setup(tmp_path: Path) -> None:
    results = list(run_checks(tmp_path / "absent.toml", 1.0))
    assert results[0].outcome == Outcome.FAIL
    assert results[0].fix is not None
    assert "nursery-edge setup" in results[0].fix


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["check", "--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "nursery-edge check --config /etc/nursery-edge/config.toml" in out
    assert "exit status" in out


def test_a_failure_without_a_fix_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a fix"):
        CheckResult("broker", Outcome.FAIL, "refused")


# ---- sensor ----


def test_a_dht22_on_a_pin_this_board_lacks_fails_with_the_wiring_fix(tmp_path: Path) -> None:
    # D99 exists on no board, so this fails on a Raspberry Pi with a sensor attached too.
    config = _config(tmp_path, sensor={"kind": "dht22", "pin": "D99"})
    result = check_sensor(config, attempts=1)
    assert result.outcome == Outcome.FAIL
    assert "dht22 on D99: no good reading in 1 attempt(s) (1 failed" in result.detail
    assert "D99" in result.detail.split("last:")[1]  # the driver's own words are shown
    assert result.fix is not None
    for advice in ("sensor.pin", "pull-up", "nursery[pi]"):
        assert advice in result.fix


def test_sensor_none_is_skipped(tmp_path: Path) -> None:
    result = check_sensor(_config(tmp_path, sensor={"kind": "none"}))
    assert result.outcome == Outcome.SKIP


# ---- microphone ----


def test_levels_are_measured_against_full_scale() -> None:
    half = np.full(1600, 0.5, dtype=np.float32)
    levels = measure(half, RATE)
    assert levels.seconds == pytest.approx(0.1)
    assert levels.rms_dbfs == pytest.approx(-6.0206, abs=1e-3)  # 20 * log10(0.5)
    assert levels.peak_dbfs == pytest.approx(-6.0206, abs=1e-3)
    assert levels.clipped_ratio == 0.0
    assert not levels.digital_silence
    # 1 sample in 4 at full scale (either sign): 25 % clipped; RMS of [1, 0, 0, 0] is 0.5.
    clipped = np.tile(np.array([-1.0, 0.0, 0.0, 0.0], dtype=np.float32), 400)
    assert measure(clipped, RATE).clipped_ratio == pytest.approx(0.25)
    assert measure(clipped, RATE).rms_dbfs == pytest.approx(-6.0206, abs=1e-3)
    just_below = np.full(10, CLIP_LEVEL - 1e-3, dtype=np.float32)
    assert measure(just_below, RATE).clipped_ratio == 0.0
    silence = measure(np.zeros(800, dtype=np.float32), RATE)
    assert silence.digital_silence
    assert silence.rms_dbfs == -120.0


def test_a_recording_of_digital_silence_is_a_warning(tmp_path: Path) -> None:
    path = _wav(tmp_path, "silence.wav", np.zeros(RATE * 2, dtype=np.float32))
    result = check_microphone(_config(tmp_path, audio={"files": [str(path)]}), 1.0)
    assert result.outcome == Outcome.WARN
    assert "digital silence" in result.detail
    assert "-120.0 dBFS" in result.detail


def test_a_clipping_recording_is_a_warning(tmp_path: Path) -> None:
    square = np.where(np.arange(RATE * 2) % 40 < 20, 1.0, -1.0).astype(np.float32)
    path = _wav(tmp_path, "square.wav", square)
    result = check_microphone(_config(tmp_path, audio={"files": [str(path)]}), 1.0)
    assert result.outcome == Outcome.WARN
    assert "clipping 100.00%" in result.detail
    assert result.fix is not None
    assert "capture gain" in result.fix


def test_a_file_shorter_than_the_recording_is_measured_as_far_as_it_goes(tmp_path: Path) -> None:
    path = _wav(tmp_path, "short.wav", np.full(RATE // 2, 0.1, dtype=np.float32))
    config = _config(tmp_path, audio={"files": [str(path)], "loop": False})
    result = check_microphone(config, 2.0)
    assert result.outcome == Outcome.PASS
    assert "0.5 s: level -20.0 dBFS" in result.detail
    assert "(the audio ended after 0.5 s)" in result.detail


def test_an_unreadable_audio_file_fails_naming_audio_files(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(b"not audio")
    result = check_microphone(_config(tmp_path, audio={"files": [str(path)]}), 1.0)
    assert result.outcome == Outcome.FAIL
    assert "audio.files" in result.detail


# ---- model ----


def test_a_missing_model_manifest_fails_naming_the_key(tmp_path: Path) -> None:
    config = _config(tmp_path, detector={"model_manifest": str(tmp_path / "missing.json")})
    result = check_model(config)
    assert result.outcome == Outcome.FAIL
    assert result.detail.startswith("detector.model_manifest:")
    assert result.fix is not None
    assert "detector.model_manifest" in result.fix


def test_without_audio_no_model_is_checked(tmp_path: Path) -> None:
    assert check_model(_config(tmp_path, audio={"source": "none"})).outcome == Outcome.SKIP


# ---- broker (what fails before any broker is involved) ----


def test_a_ca_file_that_is_no_certificate_is_a_tls_failure(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("this is not a certificate\n")
    result = check_broker(_config(tmp_path, broker={"ca_file": str(ca_file)}))
    assert result.outcome == Outcome.FAIL
    assert result.detail.startswith("TLS: cannot load broker.ca_file")
    assert result.fix is not None
    assert "broker.ca_file" in result.fix


def test_an_unreadable_password_file_is_a_credentials_failure(tmp_path: Path) -> None:
    config = _config(tmp_path, broker={"password_file": str(tmp_path / "absent")})
    result = check_broker(config)
    assert result.outcome == Outcome.FAIL
    assert "broker.password_file" in result.detail
    assert result.fix is not None
    assert "nursery-edge setup" in result.fix


def test_nothing_listening_is_unreachable(tmp_path: Path) -> None:
    result = check_broker(_config(tmp_path))
    assert result.outcome == Outcome.FAIL
    assert "unreachable: connection refused" in result.detail


def _agent_status(config: AgentConfig, **fields: Any) -> dict[str, Any]:
    """A status as the agent writes it, from this (live) process."""
    return {
        "pid": os.getpid(),
        "updated_at_epoch": time.time(),
        "broker": f"{config.broker.host}:{config.broker.port}",
        "broker_username": config.device.id,
        "connected": True,
        "last_error": None,
        **fields,
    }


def _write_agent_status(config: AgentConfig, **fields: Any) -> None:
    state_dir = Path(config.device.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    write_status(state_dir, _agent_status(config, **fields))


def test_a_connected_running_agent_passes_without_a_login(tmp_path: Path) -> None:
    config = _config(tmp_path)  # nothing listens on its port: a login would fail
    _write_agent_status(config)
    result = check_broker(config)
    assert result == CheckResult(
        "broker",
        Outcome.PASS,
        f"the running agent (pid {os.getpid()}) is connected to "
        f"127.0.0.1:{config.broker.port} as nursery-check-1",
    )


def test_a_stale_or_stopped_agent_status_means_the_check_logs_in(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write_agent_status(config, updated_at_epoch=time.time() - 600)
    assert "unreachable: connection refused" in check_broker(config).detail
    _write_agent_status(config, stopped_at="2026-12-06T21:00:00+00:00")
    assert "unreachable: connection refused" in check_broker(config).detail


def test_an_agent_running_with_another_broker_is_a_warning_to_restart_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    settings = broker_settings(config, None, 5.0)
    result = judge_running_agent(_agent_status(config, broker="10.0.0.9:1883"), settings)
    assert result.outcome == Outcome.WARN
    assert result.detail.endswith(
        "is connected to 10.0.0.9:1883 as nursery-check-1, not as configured"
    )
    assert result.fix is not None
    assert "systemctl restart nursery-edge" in result.fix


def test_an_older_agent_status_without_a_user_name_is_read_as_the_configured_one(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    document = _agent_status(config)
    del document["broker_username"]
    result = judge_running_agent(document, broker_settings(config, None, 5.0))
    assert result.outcome == Outcome.PASS
    assert result.detail.endswith(" as nursery-check-1")


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        ("broker refused the connection: Not authorized", "broker.password_file"),
        ("broker refused the connection: Bad user name or password", "broker.password_file"),
        ("cannot reach broker 127.0.0.1:1: [Errno 111] Connection refused", "broker.host"),
        (
            "cannot reach broker 127.0.0.1:1: [SSL: CERTIFICATE_VERIFY_FAILED] certificate "
            "verify failed",
            "broker.ca_file",
        ),
        (None, "the broker's log"),
    ],
)
def test_a_disconnected_running_agent_fails_with_its_error_and_the_fix(
    tmp_path: Path, error: str | None, advice: str
) -> None:
    config = _config(tmp_path)
    document = _agent_status(config, connected=False, last_error=error)
    result = judge_running_agent(document, broker_settings(config, None, 5.0))
    assert result.outcome == Outcome.FAIL
    assert result.detail.startswith(
        f"the running agent (pid {os.getpid()}) is not connected to "
        f"127.0.0.1:{config.broker.port} as nursery-check-1: {error or 'no error recorded'}"
    )
    assert result.fix is not None
    assert advice in result.fix
    assert "sudo systemctl stop nursery-edge" in result.fix


# ---- clock ----


def test_the_clock_verdicts() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert judge_clock(now, True).outcome == Outcome.PASS
    assert judge_clock(now, None).outcome == Outcome.WARN
    assert judge_clock(now, False).outcome == Outcome.FAIL
    # A Pi that booted without network and without a saved time thinks it is 1970.
    epoch = judge_clock(datetime(1970, 1, 1, 0, 1, tzinfo=UTC), True)
    assert epoch.outcome == Outcome.FAIL
    assert "1970-01-01 00:01:00 UTC" in epoch.detail
    assert judge_clock(datetime(2024, 12, 31, 23, 59, tzinfo=UTC), None).outcome == Outcome.FAIL


def test_ntp_state_comes_from_the_timesyncd_marker_or_the_query(tmp_path: Path) -> None:
    marker = tmp_path / "synchronized"
    fake = tmp_path / "timedatectl"
    assert ntp_synchronised(marker, query=[str(tmp_path / "no-such-program")]) is None
    for answer, expected in (("yes", True), ("no", False), ("maybe", None)):
        fake.write_text(f"#!/bin/sh\necho {answer}\n")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        assert ntp_synchronised(marker, query=[str(fake)]) is expected
    # systemd absent: timedatectl fails, which is "cannot tell", not "not synchronised".
    fake.write_text("#!/bin/sh\necho 'System has not been booted with systemd' >&2\nexit 1\n")
    assert ntp_synchronised(marker, query=[str(fake)]) is None
    marker.touch()
    assert ntp_synchronised(marker, query=[str(fake)]) is True
