"""`nursery-model` answers a newcomer's mistakes with one clear line and no runtime noise before
it: training without the training extra, evaluating against a data folder that is not there, a
manifest that names a missing clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from models import cli
from models.cry.audio import load_audio
from models.cry.errors import AudioLoadError
from tests.harness.processes import console_script

REPO_ROOT = Path(__file__).resolve().parents[2]
AUDIO = REPO_ROOT / "tests" / "data" / "audio"
HEADER = "path,label,source,group,sample_rate,duration_s,license\n"


def test_train_without_tensorflow_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as if the train extra were missing
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(HEADER)
    assert cli.main(["train", "--data", str(manifest), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nursery-model: error: training needs TensorFlow")
    assert "pip install -e '.[train]'" in lines[0]
    assert not (tmp_path / "out").exists(), "nothing is done before the check"


def _evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script("nursery-model"), "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_evaluate_with_a_missing_data_root_is_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(HEADER + "cry/a.flac,cry,test,g1,16000,1.0,CC0\n")
    done = _evaluate("--manifest", str(manifest), "--data-root", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"nursery-model: error: --data-root {tmp_path / 'nope'}: no such folder"
    ]


def test_evaluate_with_a_missing_manifest_is_one_line(tmp_path: Path) -> None:
    done = _evaluate("--manifest", str(tmp_path / "nope.csv"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"nursery-model: error: --manifest {tmp_path / 'nope.csv'}: no such file"
    ]


def test_a_missing_clip_is_named_not_a_system_error(tmp_path: Path) -> None:
    with pytest.raises(AudioLoadError, match="no such file") as raised:
        load_audio(tmp_path / "gone.flac", 16000)
    assert "System error" not in str(raised.value)
    assert load_audio(AUDIO / "quiet_room.flac", 16000).size > 0


def test_evaluate_says_the_detector_mode_on_stderr_and_keeps_its_report_keys(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        HEADER
        + "cry_donateacry.flac,cry,test,g1,8000,6.96,ODbL\n"
        + "quiet_room.flac,not_cry,test,g2,16000,10.0,own\n"
    )
    done = _evaluate("--manifest", str(manifest), "--data-root", str(AUDIO), "--json")
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert set(json.loads(line)) == {
        "auc",
        "precision",
        "recall",
        "f1",
        "threshold",
        "n",
        "counts_per_label",
        "per_source",
    }
    assert any(line.endswith("] cry detector: cascade") for line in done.stderr.splitlines())
