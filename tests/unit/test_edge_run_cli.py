"""``nursery-edge run`` refuses a bad config file with exit status 2 and the key's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "firmware_config" / "edge.example.toml"


def test_a_corrupt_config_stops_with_status_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(EXAMPLE.read_text().replace("read_interval_s = 3.0", "read_interval_s = 0.5"))
    os.chmod(config, 0o600)
    assert main(["run", "--config", str(config)]) == 2
    error = capsys.readouterr().err
    assert "invalid configuration" in error
    assert "sensor.read_interval_s" in error


def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(EXAMPLE), "--check-config"]) == 0
    assert "configuration is valid (device nursery-0001)" in capsys.readouterr().out


def test_a_missing_model_is_a_setup_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nid = "nursery-0001"\nstate_dir = "{tmp_path / "state"}"\n'
        '[broker]\nhost = "127.0.0.1"\nport = 1\n'
        '[sensor]\nkind = "simulated"\n'
        '[audio]\nsource = "file"\nfiles = ["tests/data/audio/cry_donateacry.flac"]\n'
        f'[detector]\nmodel_manifest = "{tmp_path / "missing.json"}"\n'
    )
    assert main(["run", "--config", str(config)]) == 1
    assert "detector.model_manifest" in capsys.readouterr().err


def test_check_config_refuses_an_audio_file_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "night.flac"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nid = "nursery-0001"\nstate_dir = "{tmp_path / "state"}"\n'
        '[broker]\nhost = "127.0.0.1"\nport = 1\n'
        '[audio]\nsource = "file"\n'
        f'files = ["tests/data/audio/cry_donateacry.flac", "{missing}"]\n'
    )
    assert main(["run", "--config", str(config), "--check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"invalid configuration: audio.files[1]: no such file: {missing}" in captured.err
    # The same for the daemon itself: a configuration error (2), before anything starts.
    assert main(["run", "--config", str(config)]) == 2
    assert "audio.files[1]: no such file" in capsys.readouterr().err
