"""What stage two learns from and is measured on: subsampling and the field-test sweep."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator

import numpy as np

from models.training.cascade_data import (
    FIELD_SNRS_DB,
    SUBSAMPLE,
    field_test_renditions,
    subsample,
)
from models.training.dataset import Clip
from models.training.field_report import snr_of
from models.training.renditions import RATE, Rendition, is_laughter


def clip(path: str, source: str, cry: bool, group: str = "") -> Clip:
    label = "cry" if cry else "not_cry"
    return Clip(path, label, source, group or path, RATE, 1.0, "test")


def corpus() -> list[Clip]:
    clips = [clip(f"speech/{i}.flac", "speech_commands", False) for i in range(800)]
    clips += [clip(f"digits/{i}.flac", "spoken_digits", False) for i in range(150)]
    clips += [clip(f"cry/{i}.flac", "donateacry", True) for i in range(40)]
    clips += [clip(f"not_cry/esc50/dog/{i}.flac", "esc50", False) for i in range(30)]
    return clips


def test_subsampling_caps_the_spoken_word_sources_and_keeps_the_rest() -> None:
    clips = corpus()
    for fraction in (1.0, 0.3):
        kept = subsample(clips, fraction, np.random.default_rng(0))
        counts = Counter(c.source for c in kept)
        assert counts["speech_commands"] == int(SUBSAMPLE["speech_commands"] * fraction)
        assert counts["spoken_digits"] == min(150, int(SUBSAMPLE["spoken_digits"] * fraction))
        assert counts["donateacry"] == 40
        assert counts["esc50"] == 30
        assert len({c.path for c in kept}) == len(kept)  # no clip twice
        assert set(kept) <= set(clips)


def test_subsampling_is_seeded() -> None:
    clips = corpus()
    first = subsample(clips, 1.0, np.random.default_rng(5))
    assert first == subsample(clips, 1.0, np.random.default_rng(5))
    assert first != subsample(clips, 1.0, np.random.default_rng(6))


def test_a_cry_source_with_a_cap_is_not_subsampled() -> None:
    cries = [clip(f"c/{i}.flac", "speech_commands", True) for i in range(700)]
    assert len(subsample(cries, 1.0, np.random.default_rng(0))) == 700


def test_laughter_is_a_non_cry_whose_path_names_it() -> None:
    assert is_laughter("ovos_laugh/female_219778_evil_laugh.flac", is_cry=False)
    assert is_laughter("not_cry/home_recordings/laugh/laugh_1_m4a_35.flac", is_cry=False)
    assert not is_laughter("not_cry/home_recordings/room_silence/s_1.flac", is_cry=False)
    assert not is_laughter("cry/home_recordings/laugh/odd_name.flac", is_cry=True)


def field_corpus() -> tuple[list[Clip], dict[str, np.ndarray]]:
    clips = [
        clip("cry/a.flac", "donateacry", True),
        clip("cry/b.flac", "esc50", True),
        clip("not_cry/esc50/dog/c.flac", "esc50", False),
        clip("not_cry/speech/d.flac", "speech_commands", False),
    ]
    rng = np.random.default_rng(0)
    audio = {c.path: (0.1 * rng.standard_normal(RATE)).astype(np.float32) for c in clips}
    return clips, audio


def corpus_part(renditions: Iterator[Rendition]) -> list[Rendition]:
    """The sweep of the corpus clips (household sounds and beds follow it)."""
    return list(
        itertools.takewhile(lambda r: not r.source.startswith(("household:", "bed:")), renditions)
    )


def test_the_field_sweep_hears_every_cry_clean_and_at_every_snr_in_two_beds() -> None:
    clips, audio = field_corpus()
    swept = corpus_part(field_test_renditions(clips, audio, [], seed=7))
    wanted_snrs = {f"{snr:+.0f} dB" for snr in FIELD_SNRS_DB}
    for cry in ("cry/a.flac", "cry/b.flac"):
        own = [r for r in swept if r.clip == cry]
        assert all(r.is_cry for r in own)
        by_snr = Counter(snr_of(r) for r in own)
        assert by_snr == {"clean": 1, **dict.fromkeys(wanted_snrs, 2)}
        for snr in wanted_snrs:
            kinds = {r.condition.split(" ")[0] for r in own if snr_of(r) == snr}
            assert len(kinds) == 2  # two different beds at each SNR
        clean = next(r for r in own if snr_of(r) == "clean")
        assert clean.condition == "clean"  # as recorded: no room either
    dog = Counter(snr_of(r) for r in swept if r.clip == "not_cry/esc50/dog/c.flac")
    assert dog == {"clean": 1, **dict.fromkeys(wanted_snrs, 1)}
    speech = [r for r in swept if r.clip == "not_cry/speech/d.flac"]
    assert [snr_of(r) for r in speech] == ["clean"]


def test_the_field_sweep_is_deterministic_for_a_seed() -> None:
    clips, audio = field_corpus()
    first = corpus_part(field_test_renditions(clips, audio, [], seed=7))
    second = corpus_part(field_test_renditions(clips, audio, [], seed=7))
    other = corpus_part(field_test_renditions(clips, audio, [], seed=8))
    assert [r.condition for r in first] == [r.condition for r in second]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.audio, b.audio)
    assert any(not np.array_equal(a.audio, b.audio) for a, b in zip(first, other, strict=True))


def test_the_field_sweep_ends_with_household_sounds_and_beds_alone() -> None:
    clips, audio = field_corpus()
    renditions = field_test_renditions(clips, audio, [], seed=7)
    corpus_part(renditions)  # consumes the corpus part and the first household rendition
    following = list(itertools.islice(renditions, 30))
    assert all(r.source.startswith("household:") and not r.is_cry for r in following)
