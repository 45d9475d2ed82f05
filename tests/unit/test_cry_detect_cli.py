"""``nursery-edge detect --json``: one JSON object per event, in the documented shape."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest
import soundfile

from edge.cli import detect
from tests.harness.processes import console_script

AUDIO_DIR = Path(__file__).resolve().parents[1] / "data" / "audio"


def run_detect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nursery-edge")
    detect.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["detect", *argv])
    return int(args.handler(args))


def test_json_events_for_a_cry(capsys: pytest.CaptureFixture[str]) -> None:
    clip = AUDIO_DIR / "cry_donateacry.flac"
    assert run_detect(["--json", str(clip)]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["event"] for e in events] == ["cry_started", "cry_ended"]
    started, ended = events
    # `heard` only when the detector names what it heard (a model with a labelled backbone).
    assert set(started) - {"heard"} == {"event", "t", "confidence"}
    assert set(ended) - {"heard"} == {"event", "t", "duration_s"}
    for event in events:
        for item in event.get("heard", []):
            assert set(item) == {"label", "score"}
            assert item["label"]
            assert 0.0 <= item["score"] <= 1.0
    duration = soundfile.info(str(clip)).duration
    assert 0.0 <= started["t"] < ended["t"] <= duration
    assert 0.0 < started["confidence"] <= 1.0
    assert ended["duration_s"] == pytest.approx(ended["t"] - started["t"], abs=1e-2)


def test_no_events_for_speech(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_detect(["--json", str(AUDIO_DIR / "not_cry_speech_commands.flac")]) == 0
    assert capsys.readouterr().out == ""


def test_text_output_and_chunk_size_independence(capsys: pytest.CaptureFixture[str]) -> None:
    clip = str(AUDIO_DIR / "cry_donateacry.flac")
    assert run_detect(["--json", "--chunk-s", "0.01", clip]) == 0
    fine = capsys.readouterr().out
    assert run_detect(["--json", "--chunk-s", "3", clip]) == 0
    assert capsys.readouterr().out == fine
    assert run_detect([clip]) == 0
    assert "1 cry episode(s)" in capsys.readouterr().out


def test_unreadable_file_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "not_audio.wav"
    bogus.write_text("hello")
    assert run_detect([str(bogus)]) == 2
    assert "cannot read audio file" in capsys.readouterr().err


def test_a_missing_file_says_no_such_file_without_a_traceback(tmp_path: Path) -> None:
    # libsndfile's own words for this were "System error"; the CLI names the file instead.
    done = subprocess.run(
        [console_script("nursery-edge"), "detect", "nope.wav"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "nursery-edge detect: no such file: nope.wav"
    assert "Traceback" not in done.stderr
    assert "System error" not in done.stderr
    assert done.stdout == ""


def test_the_detector_mode_goes_to_stderr_and_json_stays_the_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(AUDIO_DIR / "cry_donateacry.flac")
    assert run_detect(["--json", clip]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["nursery-edge detect: cry detector: cascade"]
    # The keys of before, plus what the cascade heard (only when it heard something).
    assert [set(json.loads(line)) - {"heard"} for line in captured.out.splitlines()] == [
        {"event", "t", "confidence"},
        {"event", "t", "duration_s"},
    ]
    assert all(json.loads(line)["heard"] for line in captured.out.splitlines())
    from tests.unit.test_cry_cascade import artifacts_copy

    manifest = artifacts_copy(tmp_path / "model")
    (tmp_path / "model" / "yamnet_embedding.tflite").unlink()
    assert run_detect(["--json", "--model-manifest", str(manifest), clip]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "nursery-edge detect: cry detector: degraded: stage-two file "
        f"{tmp_path / 'model' / 'yamnet_embedding.tflite'} does not exist"
    ]
    assert [json.loads(line)["event"] for line in captured.out.splitlines()] == [
        "cry_started",
        "cry_ended",
    ]
