"""A tiny run of the "not a cry" benchmark on the shared corpus (tests/benchmarks/
bench_not_a_cry.py): its nights build from the committed splits, stream through the shipped
detector with fingerprints on every episode, and the report prints. The figures themselves come
from the full command (docs/cry-detector.md); minutes of audio cannot measure them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.artifacts import ARTIFACTS_DIR
from models.cry.ignore import IgnoreRule
from models.training.dataset import read_manifest, split_by_group
from models.training.ignore_eval import replay_mark
from tests.benchmarks import bench_not_a_cry
from tests.harness.external_material import TRAINING_CORPUS, material_path
from tests.harness.timeouts import MODEL_GUARD_TIMEOUT_S

pytestmark = [
    pytest.mark.needs_material(TRAINING_CORPUS, "the training corpus"),
    pytest.mark.slow,
    pytest.mark.timeout(MODEL_GUARD_TIMEOUT_S),  # streams nights through the cascade
]
HOURS = 0.05  # three minutes of audio per night


def test_a_recurring_night_streams_with_fingerprints_and_the_mark_replays() -> None:
    spec = bench_not_a_cry.NightSpec("tiny", "test", "test", "cat", "changing", HOURS, 31102)
    streamed = bench_not_a_cry.stream_night((spec, material_path(TRAINING_CORPUS), None))
    assert streamed.cries
    assert streamed.recurring >= 2
    assert streamed.episodes
    # The cascade gives every episode both fingerprints: without them no mark could match.
    assert all(e.onset is not None and e.whole is not None for e in streamed.episodes)
    # What the device watches while an episode is ignored: the chunks' peak scores in it.
    assert all(e.peaks for e in streamed.episodes)
    assert all(
        e.start_s <= t and 0.0 <= score <= 1.0 for e in streamed.episodes for t, score in e.peaks
    )
    outcome = replay_mark(streamed.episodes, streamed.cries, "onset", IgnoreRule())
    assert outcome.recurring_alerted <= outcome.recurring
    assert outcome.cries_found_with_mark <= outcome.cries_found <= outcome.cries


def test_saved_episodes_are_replayed_without_streaming_again(tmp_path: Path) -> None:
    spec = bench_not_a_cry.NightSpec("tiny", "test", "test", "laughter", "machine", HOURS, 31101)
    first = bench_not_a_cry.stream_night((spec, material_path(TRAINING_CORPUS), tmp_path))
    [saved] = tmp_path.glob("*.pickle")
    # No audio is needed the second time: the data folder does not even exist.
    again = bench_not_a_cry.stream_night((spec, tmp_path / "no-audio-here", tmp_path))
    assert again.spec == first.spec
    assert again.cries == first.cries
    assert [(e.start_s, e.cause) for e in again.episodes] == [
        (e.start_s, e.cause) for e in first.episodes
    ]
    # Another night (here: rooms per placement) is never taken for the saved one.
    harsher = bench_not_a_cry.NightSpec(
        "tiny", "rooms", "test", "laughter", "machine", HOURS, 31101, "per_placement"
    )
    with pytest.raises(FileNotFoundError):
        bench_not_a_cry.stream_night((harsher, tmp_path / "no-audio-here", tmp_path))
    assert saved.exists()


def test_the_command_prints_its_tables(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--hours", str(HOURS), "--jobs", "2", "--data", str(material_path(TRAINING_CORPUS))]
    assert bench_not_a_cry.main(argv) == 0
    out = capsys.readouterr().out
    assert "Chosen on the tuning nights" in out
    assert "| test-laughter | machine |" in out
    assert "Limit case" in out
    assert "Ceiling of one mark" in out
    assert "Harsher condition" in out
    assert "| test-cat-rooms | changing |" in out
    assert "match_ignored against a full list" in out


def test_its_test_nights_draw_on_the_committed_test_split() -> None:
    data = material_path(TRAINING_CORPUS)
    split = split_by_group(read_manifest(data / "manifest.csv"), bench_not_a_cry.SPLIT_SEED)
    committed = read_manifest(ARTIFACTS_DIR / "splits" / "test_manifest.csv")
    assert {c.path for c in split["test"]} == {c.path for c in committed}
