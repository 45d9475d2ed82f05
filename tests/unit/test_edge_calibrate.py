"""``nursery-edge calibrate``: the arithmetic by hand, the listening on real clips through the
shipped model, and the report an installer reads."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.assembly import build_detector
from edge.audio import FileReplaySource
from edge.cli import main
from edge.cli.calibrate import Progress, effective_settings
from edge.config import parse_config
from edge.detection.background import record_background
from edge.detection.calibration import (
    BlockLevels,
    noise_floor,
    on_threshold_for,
    percentile,
    propose,
    sensitivity_for_threshold,
    summarise_scores,
    windows_reaching,
)
from edge.detection.sensitivity import hysteresis_for
from models.contract import DeviceSettings
from models.cry import CryDetector, HysteresisParams
from models.cry.audio import load_audio, rms_dbfs
from models.cry.detector import default_model_manifest_path
from models.cry.manifest import load_manifest

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
CRY = AUDIO / "cry_donateacry.flac"
SPEECH = AUDIO / "not_cry_speech_commands.flac"
# Onset threshold 0.5 is logit 0, which makes the logit arithmetic below easy to follow.
EVEN = HysteresisParams(on_threshold=0.5, off_threshold=0.25)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---- statistics ----


def test_percentiles_interpolate_between_ranks() -> None:
    values = [50.0, 10.0, 40.0, 20.0, 30.0]  # order does not matter
    # Rank = q/100 * (n - 1): p10 -> 0.4 -> 10 + 0.4 * 10, p95 -> 3.8 -> 40 + 0.8 * 10.
    assert percentile(values, 10) == pytest.approx(14.0)
    assert percentile(values, 50) == pytest.approx(30.0)
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile(values, 99) == pytest.approx(49.6)
    assert percentile(values, 100) == 50.0
    assert percentile([7.0], 10) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_block_levels_span_chunk_boundaries_and_keep_the_incomplete_rest() -> None:
    levels = BlockLevels(sample_rate=40, block_s=0.1)  # 4-sample blocks
    stream = np.array([0.5] * 4 + [0.0] * 4 + [1.0, -1.0, 1.0, -1.0] + [0.1, 0.1], dtype=np.float32)
    for start, stop in ((0, 3), (3, 8), (8, 14)):
        levels.add(stream[start:stop])
    # RMS 0.5 -> 20*log10(0.5); silence -> the -120 dBFS floor; full-scale square -> 0 dBFS.
    assert levels.levels == pytest.approx([-6.0206, -120.0, 0.0], abs=1e-4)
    levels.add(np.array([0.1, 0.1], dtype=np.float32))  # completes the fourth block
    assert levels.levels[-1] == pytest.approx(-20.0, abs=1e-4)


def test_noise_floor_is_the_10th_percentile_of_block_levels() -> None:
    floor = noise_floor([-20.0, -60.0, -40.0, -50.0, -30.0])
    assert floor.floor_dbfs == pytest.approx(-56.0)  # -60 + 0.4 * 10
    assert floor.median_dbfs == pytest.approx(-40.0)
    assert floor.max_dbfs == -20.0
    assert floor.blocks == 5


def test_score_summary_and_windows_reaching_a_threshold() -> None:
    scores = [0.1, 0.2, 0.3, 0.4, 0.9]
    summary = summarise_scores(scores)
    assert (summary.windows, summary.max) == (5, 0.9)
    assert summary.p50 == pytest.approx(0.3)
    assert summary.p95 == pytest.approx(0.4 + 0.8 * 0.5)
    assert summary.p99 == pytest.approx(0.4 + 0.96 * 0.5)
    assert windows_reaching(scores, 0.4) == 2  # reaching counts, as in the hysteresis
    assert windows_reaching(scores, 0.95) == 0


# ---- the sensitivity mapping, inverted ----


def test_inverting_the_sensitivity_mapping_by_hand() -> None:
    # logit(on) = 0 + (0.5 - s) * 6  =>  s = 0.5 - logit(on) / 6
    assert sensitivity_for_threshold(0.5, sigmoid(1.5)) == pytest.approx(0.25)
    assert sensitivity_for_threshold(0.5, sigmoid(-3.0)) == pytest.approx(1.0)
    assert sensitivity_for_threshold(0.5, sigmoid(4.0)) == pytest.approx(-1.0 / 6)


@pytest.mark.parametrize("sensitivity", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
def test_the_inverse_undoes_the_daemons_mapping(sensitivity: float) -> None:
    calibrated = CryDetector.from_manifest().hysteresis
    on = hysteresis_for(calibrated, DeviceSettings(cry_sensitivity=sensitivity)).on_threshold
    assert sensitivity_for_threshold(calibrated.on_threshold, on) == pytest.approx(
        sensitivity, abs=1e-9
    )


# ---- the proposal ----


def test_a_background_at_even_odds_asks_for_two_logits_more() -> None:
    proposal = propose([0.1, 0.5, 0.2], EVEN)
    # Loudest logit 0, wanted threshold logit 2: s = 0.5 - 2/6 = 0.1667, rounded down.
    assert proposal.unclamped == pytest.approx(1.0 / 6)
    assert proposal.sensitivity == 0.16
    assert proposal.on_threshold == pytest.approx(sigmoid(2.04))
    assert proposal.margin_logits == pytest.approx(2.04)
    assert not proposal.too_noisy
    assert not proposal.crosses_at_zero


def test_a_quiet_background_allows_a_higher_sensitivity() -> None:
    proposal = propose([sigmoid(-4.0), 0.001], EVEN)
    assert proposal.unclamped == pytest.approx(0.5 + 2.0 / 6)
    assert proposal.sensitivity == 0.83
    assert proposal.margin_logits == pytest.approx(2.02)


def test_a_silent_background_is_clamped_to_1() -> None:
    proposal = propose([sigmoid(-6.0)], EVEN)
    assert proposal.unclamped == pytest.approx(0.5 + 4.0 / 6)
    assert proposal.sensitivity == 1.0
    assert proposal.on_threshold == pytest.approx(sigmoid(-3.0))
    assert proposal.margin_logits == pytest.approx(3.0)


def test_a_loud_background_is_clamped_to_0_and_called_too_noisy() -> None:
    proposal = propose([sigmoid(2.0)], EVEN)
    assert proposal.unclamped == pytest.approx(0.5 - 4.0 / 6)
    assert proposal.sensitivity == 0.0
    assert proposal.on_threshold == pytest.approx(sigmoid(3.0))
    assert proposal.margin_logits == pytest.approx(1.0)  # less than the 2 wanted
    assert proposal.too_noisy
    assert not proposal.crosses_at_zero


def test_a_background_above_the_strictest_threshold_crosses_at_zero() -> None:
    proposal = propose([0.2, 0.97], EVEN)  # strictest threshold: sigmoid(3) = 0.9526
    assert proposal.sensitivity == 0.0
    assert proposal.crosses_at_zero
    assert proposal.too_noisy
    assert proposal.margin_logits < 0


def test_rounding_down_to_two_decimals_does_not_lose_a_whole_step() -> None:
    # Loudest logit -0.74: wanted threshold logit 1.26, s = 0.5 - 1.26/6 = 0.29 (in floats,
    # perhaps 0.28999...): the proposal is 0.29, not 0.28.
    assert propose([sigmoid(-0.74)], EVEN).sensitivity == 0.29


# ---- listening to real clips ----


def _over(calibrated: HysteresisParams, highest: float) -> HysteresisParams:
    """Settings whose onset threshold lies between a clip's highest score and 1."""
    on = highest + (1.0 - highest) / 2.0
    return replace(calibrated, on_threshold=on, off_threshold=on / 2.0)


def _replay(path: Path, loop: bool = False) -> FileReplaySource:
    source = FileReplaySource([path], realtime=False, loop=loop, gap_s=2.0)
    source.start()
    return source


def test_the_background_scores_are_the_detectors_scores_of_the_same_audio() -> None:
    config = parse_config({"device": {"id": "nursery-cal-1"}, "broker": {"host": "localhost"}})
    detector, _version = build_detector(config)
    calibrated = detector.hysteresis
    at_default = hysteresis_for(calibrated, DeviceSettings())
    background = record_background(_replay(CRY), detector, at_default, 30.0)
    assert background.seconds == pytest.approx(6.96)  # the clip ended before 30 s
    expected = CryDetector.from_manifest().score_file(CRY)
    assert background.scores == pytest.approx([w.score for w in expected.window_scores])
    samples = load_audio(CRY, 16_000)
    blocks = [rms_dbfs(samples[i : i + 1600]) for i in range(0, len(samples) - 1599, 1600)]
    assert background.levels_dbfs == pytest.approx(blocks, abs=1e-6)
    assert background.alarms == 1  # the clip is one cry episode at the default sensitivity
    # Over the clip's highest score no window reaches the threshold: no alarm at all.
    strict = _over(calibrated, max(background.scores))
    assert record_background(_replay(CRY), detector, strict, 30.0).alarms == 0


def _config_file(tmp_path: Path, audio: Path, state: dict[str, Any] | None = None) -> Path:
    state_dir = tmp_path / "state"
    if state is not None:
        state_dir.mkdir()
        (state_dir / "remote-settings.json").write_text(json.dumps(state))
    path = tmp_path / "config.toml"
    path.write_text(
        f'[device]\nid = "nursery-cal-2"\nstate_dir = "{state_dir}"\n'
        '[broker]\nhost = "localhost"\n'
        f'[audio]\nsource = "file"\nfiles = ["{audio}"]\nrealtime = false\n'
    )
    return path


def test_calibrating_on_crying_refuses_to_propose_a_near_deaf_sensitivity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Crying as the "background": fitted to it, the sensitivity would be near 0 (deaf to the
    # next cry). The model hears the cry at its own threshold, so calibrate says so and proposes
    # nothing.
    config = _config_file(tmp_path, CRY)
    assert main(["calibrate", "--config", str(config), "--seconds", "12"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "heard          12.0 s of audio" in out
    shipped = load_manifest(default_model_manifest_path()).hysteresis.on_threshold
    assert f"cry_sensitivity 0.50 (from the config file): onset threshold {shipped:.3f}" in out
    assert "1 cry alarm(s) would have been sent" in out
    assert f"crying         1 episode(s) at the model's calibrated threshold {shipped:.3f}" in out
    assert "refused: the model heard crying in this recording" in out
    would_have = float(out.split("it would have been cry_sensitivity ")[1].split(")")[0])
    assert would_have <= 0.10  # what the old calibrate proposed without a word
    assert "Calibrate again while the baby is quiet" in out
    assert "proposed" not in out
    assert "[settings]" not in out
    # Not a terminal: plain progress lines on stderr, every 5 s of audio.
    assert "listened 5/12 s" in captured.err
    assert "listened 10/12 s" in captured.err


def test_a_cry_in_the_background_is_found_at_the_models_threshold_not_the_settings() -> None:
    config = parse_config({"device": {"id": "nursery-cal-4"}, "broker": {"host": "localhost"}})
    detector, _version = build_detector(config)
    calibrated = detector.hysteresis
    # Settings stricter than the clip's highest score raise no alarm, yet the crying is found.
    highest = CryDetector.from_manifest().score_file(CRY).max_score
    strict = _over(calibrated, highest)
    heard = record_background(_replay(CRY), detector, strict, 30.0, calibrated=calibrated)
    assert heard.alarms == 0
    assert len(heard.cries_at_s) == 1
    assert 0.0 < heard.cries_at_s[0] < 4.0  # the clip (7 s) cries loudest from about 3 s
    quiet = record_background(_replay(SPEECH), detector, strict, 30.0, calibrated=calibrated)
    assert quiet.cries_at_s == []


def test_calibrating_on_a_quiet_room_proposes_more_than_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One spoken word and 2 s of digital silence between repetitions: a quiet room.
    config = _config_file(tmp_path, SPEECH)
    assert main(["calibrate", "--config", str(config), "--seconds", "9"]) == 0
    out = capsys.readouterr().out
    assert "noise floor    -120.0 dBFS" in out  # the silent gaps
    assert "0 window(s) reached it, 0 cry alarm(s)" in out
    proposed = float(out.split("cry_sensitivity = ")[1].split()[0])
    assert 0.5 < proposed <= 1.0
    assert "note: above 0.5" in out
    assert "warning" not in out


def test_the_current_sensitivity_includes_what_the_app_set(tmp_path: Path) -> None:
    config = parse_config(
        {
            "device": {"id": "nursery-cal-3", "state_dir": str(tmp_path)},
            "broker": {"host": "localhost"},
            "settings": {"cry_sensitivity": 0.4},
        }
    )
    assert effective_settings(config) == (config.settings, -1)
    (tmp_path / "remote-settings.json").write_text(
        json.dumps({"revision": 4, "overrides": {"cry_sensitivity": 0.8}})
    )
    settings, revision = effective_settings(config)
    assert (settings.cry_sensitivity, revision) == (0.8, 4)
    assert on_threshold_for(EVEN, settings.cry_sensitivity) == pytest.approx(sigmoid(-1.8))


def test_calibrate_reports_the_apps_sensitivity_as_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path, SPEECH, {"revision": 2, "overrides": {"cry_sensitivity": 0.7}})
    assert main(["calibrate", "--config", str(config), "--seconds", "3"]) == 0
    assert "cry_sensitivity 0.70 (from the app)" in capsys.readouterr().out


# ---- errors and progress ----


def test_without_an_audio_source_there_is_nothing_to_calibrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[device]\nid = "abc"\n[broker]\nhost = "x"\n[audio]\nsource = "none"\n')
    assert main(["calibrate", "--config", str(config)]) == 2
    assert "nothing to listen to" in capsys.readouterr().err


def test_a_microphone_that_is_not_there_is_an_error_naming_audio_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[device]\nid = "abc"\n[broker]\nhost = "x"\n'
        '[audio]\nsource = "microphone"\ndevice = "Nursery Test Microphone That Is Not There"\n'
    )
    assert main(["calibrate", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "cannot record" in err
    assert "audio.device" in err


def test_seconds_below_one_window_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["calibrate", "--seconds", "1"])
    assert stopped.value.code == 2
    assert "between 2 and 3600" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_in_place_on_a_terminal() -> None:
    out = Terminal()
    progress = Progress(30.0, out)
    progress.update(12.0)
    progress.update(30.0)
    progress.finish()
    assert out.getvalue() == (
        "\r[############..................] 12/30 s\r[##############################] 30/30 s\n"
    )


def test_progress_without_a_terminal_is_a_line_every_5_seconds() -> None:
    out = io.StringIO()
    progress = Progress(12.0, out)
    for done in (0.1, 4.9, 5.0, 7.5, 10.2, 12.0):
        progress.update(done)
    progress.finish()
    assert out.getvalue() == "listened 5/12 s\nlistened 10/12 s\n"


@pytest.mark.parametrize("seconds", ["1.5", "3601", "soon"])
def test_calibrate_refuses_a_listening_time_outside_2_to_3600_s(
    seconds: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "--seconds", seconds])
    assert exit_info.value.code == 2
    assert "--seconds" in capsys.readouterr().err
