"""Training-data helpers that need no TensorFlow: augmentation, training windows, night truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.cry.episodes import HysteresisParams, WindowScore
from models.cry.features import WindowParams
from models.training.night import Night, NightParams, audible_onset_s
from models.training.onset_rule import choose_onset_rule
from models.training.train import TrainConfig

RATE = 16_000


def test_training_windows_keep_their_own_stride_whatever_the_runtime_hop() -> None:
    config = TrainConfig(Path("m.csv"), Path("out"), Path("work"), windows=WindowParams())
    assert config.windows.hop_frames == 10  # the detector scores every 0.1 s
    assert config.front_end.windows.hop_frames == config.training_hop_frames == 25
    assert config.front_end.windows.window_frames == config.windows.window_frames


def test_audible_onset_skips_a_quiet_lead_in() -> None:
    params = NightParams()
    lead_in = np.full(int(0.6 * RATE), 0.001, dtype=np.float32)  # -60 dBFS: a quiet room
    cry = np.full(RATE, 0.3, dtype=np.float32)
    assert audible_onset_s(np.concatenate((lead_in, cry)), RATE, params) == pytest.approx(0.6)
    assert audible_onset_s(cry, RATE, params) == 0.0
    assert audible_onset_s(np.zeros(RATE, dtype=np.float32), RATE, params) == 0.0


def windows(scores: list[float], hop_s: float = 0.1) -> list[WindowScore]:
    return [WindowScore(i * hop_s, i * hop_s + 1.0, s, -30.0) for i, s in enumerate(scores)]


def test_onset_rule_is_chosen_to_avoid_false_alerts_then_to_be_fast() -> None:
    # 60 s "night": one real cry from 20 s (all windows hot), and a 0.3 s blip at 40 s
    # (three hot windows) that only a rule needing more than 3 hot windows ignores.
    scores = [0.0] * 600
    for i in range(200, 300):
        scores[i] = 0.99
    for i in range(400, 403):
        scores[i] = 0.99
    night = Night(np.zeros(60 * RATE, dtype=np.float32), RATE, [(20.5, 30.0)])
    base = HysteresisParams(on_threshold=0.9, off_threshold=0.45, cooldown_s=5.0)
    choice = choose_onset_rule(night, windows(scores), base, seed=0)
    assert choice.metrics.false_alerts == 0
    assert choice.metrics.episode_recall == 1.0
    assert choice.hysteresis.onset_k > 3  # the blip had three hot windows
    # Among the rules without false alerts, the fastest one: 4 of 6 with the shortest length.
    assert (choice.hysteresis.onset_k, choice.hysteresis.onset_n) == (4, 6)
    assert choice.hysteresis.min_duration_s == 0.3
    assert choice.hysteresis.on_threshold == base.on_threshold


@pytest.mark.parametrize("hop", ["0", "99", "-1"])
def test_recalibrate_refuses_a_hop_outside_one_window(
    hop: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["recalibrate", "--hop-frames", hop])
    assert exit_info.value.code == 2
    assert "--hop-frames: must be between 1 and 98" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "recalibrate", "night"])
def test_the_corpus_is_named_explicitly_and_a_missing_one_is_refused(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The corpus is not in the repository: no default points outside it."""
    from models.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([command])
    assert exit_info.value.code == 2
    assert "the following arguments are required: --data" in capsys.readouterr().err
    missing = tmp_path / "manifest.csv"
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--data", str(missing)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--data: no data manifest at {missing}: pass the manifest.csv" in err


def test_the_card_names_a_split_seed_only_when_it_differs() -> None:
    from models.training.model_card import _split_seed_note

    assert _split_seed_note({"seed": 1234}) == ""
    assert _split_seed_note({"seed": 1234, "split_seed": 1234}) == ""
    assert "split and validation seed 1234" in _split_seed_note({"seed": 1, "split_seed": 1234})
