"""The field report: categories, families, recall by SNR and the overall figures."""

from __future__ import annotations

import numpy as np
import pytest

from models.training.field_report import FAMILIES, Scored, category, field_report, snr_of
from models.training.renditions import Rendition


def rendition(
    source: str, clip: str = "x.flac", condition: str = "clean", cry: bool = False
) -> Rendition:
    return Rendition(np.zeros(1, np.float32), cry, source, condition, clip)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (rendition("esc50", "not_cry/esc50/dog/1-100032-A.flac"), "esc50:dog"),
        (rendition("esc50", "not_cry/esc50/cat/2-1.flac"), "esc50:cat"),
        (rendition("home_recordings", "not_cry/home_recordings/laugh/l_0.flac"), "laughter"),
        (rendition("ovos_laugh (pitched up)", "not_cry/ovos/laugh_3.flac"), "laughter"),
        (rendition("home_recordings", "not_cry/home_recordings/talk/t_0.flac"), "home:talk"),
        (rendition("bed:fan", "field:fan:3"), "bed"),
        (rendition("household:claps", "field:claps:0"), "household:claps"),
        (rendition("speech_commands (pitched up)", "not_cry/speech/1.flac"), "speech_commands"),
        (rendition("donateacry", "cry/donateacry/laughing_baby.flac", cry=True), "donateacry"),
        (rendition("recorded_cat", "recorded_cat/scratch_animal_meow.flac"), "recorded_cat"),
        (
            rendition("recorded_voice", "recorded_voice/hedgewars-data_pirate_laugh.flac"),
            "laughter",
        ),
    ],
)
def test_category(item: Rendition, expected: str) -> None:
    assert category(item) == expected


def test_snr_of_reads_the_bed_part_of_the_condition() -> None:
    assert snr_of(rendition("s", condition="pink -5 dB, reverb 0.4 s")) == "-5 dB"
    assert snr_of(rendition("s", condition="white +20 dB")) == "+20 dB"
    assert snr_of(rendition("s", condition="clean")) == "clean"
    assert snr_of(rendition("s", condition="clean, reverb 0.3 s")) == "clean"


def scored() -> list[Scored]:
    cry = "donateacry"
    return [
        # Cries: 3 of 4 over the threshold 0.5.
        Scored(rendition(cry, "cry/1.flac", "clean", cry=True), 0.9),
        Scored(rendition(cry, "cry/1.flac", "white +20 dB", cry=True), 0.8),
        Scored(rendition(cry, "cry/1.flac", "pink -5 dB, reverb 0.5 s", cry=True), 0.2),
        Scored(rendition("esc50", "cry/esc50/2.flac", "pink +0 dB", cry=True), 0.6),
        # Non-cries: 2 of 6 over it.
        Scored(rendition("household:claps", "f:claps:0", "white +5 dB"), 0.7),
        Scored(rendition("household:knocks", "f:knocks:0", "clean"), 0.1),
        Scored(rendition("esc50", "not_cry/esc50/dog/a.flac", "clean"), 0.55),
        Scored(rendition("esc50", "not_cry/esc50/cat/b.flac", "clean"), 0.3),
        Scored(rendition("bed:white", "f:white:0", "-40 dBFS"), 0.0),
        Scored(rendition("esc50", "not_cry/esc50/rooster/c.flac", "clean"), 0.0),
    ]


def test_the_overall_figures() -> None:
    report = field_report(scored(), 0.5)
    # tp 3, fp 2, fn 1.
    assert report["renditions"] == 10
    assert report["cries"] == 4
    assert report["precision"] == round(3 / 5, 4)
    assert report["recall"] == 0.75
    assert report["f1"] == round(6 / (6 + 2 + 1), 4)
    assert report["threshold"] == 0.5
    assert 0.0 < report["roc_auc"] < 1.0


def test_recall_by_snr_noise_and_source_counts_only_cries() -> None:
    report = field_report(scored(), 0.5)
    by_snr = report["cry_recall_by_snr"]
    # From the highest SNR down (the table reads as recall falling with the SNR).
    assert [name for name in by_snr if name != "clean"] == ["+20 dB", "+0 dB", "-5 dB"]
    assert by_snr["clean"] == {"clips": 1, "recall": 1.0}
    assert by_snr["-5 dB"] == {"clips": 1, "recall": 0.0}
    assert report["cry_recall_by_noise"] == {
        "clean": {"clips": 1, "recall": 1.0},
        "pink": {"clips": 2, "recall": 0.5},
        "white": {"clips": 1, "recall": 1.0},
    }
    assert report["cry_recall_by_source"]["donateacry"] == {"clips": 3, "recall": round(2 / 3, 4)}


def test_false_positives_by_category_and_family() -> None:
    report = field_report(scored(), 0.5)
    categories = report["false_positive_rate_by_category"]
    assert categories["esc50:dog"] == {"clips": 1, "rate": 1.0}
    assert categories["esc50:rooster"] == {"clips": 1, "rate": 0.0}
    assert "donateacry" not in categories  # cries are not false positives
    families = report["false_positive_rate_by_family"]
    assert list(families) == list(FAMILIES)
    household, animals, other, beds, recorded_animals, recorded_voices, esc50 = families.values()
    assert household == {"clips": 2, "false_positive_rate": 0.5}  # claps yes, knocks no
    assert animals == {"clips": 2, "false_positive_rate": 0.5}  # dog yes, cat no
    assert other == {"clips": 0, "false_positive_rate": None}
    assert beds == {"clips": 1, "false_positive_rate": 0.0}
    assert esc50 == {"clips": 0, "false_positive_rate": None}  # a rooster is in no family
    assert recorded_animals == recorded_voices == {"clips": 0, "false_positive_rate": None}


def test_the_recorded_sounds_have_families_of_their_own() -> None:
    recorded = [
        Scored(rendition("recorded_cat", "recorded_cat/a_meow.flac", "pink +5 dB"), 0.8),
        Scored(rendition("recorded_animal", "recorded_animal/a_dog.flac", "clean"), 0.2),
        Scored(rendition("recorded_household", "recorded_household/a_kettle.flac"), 0.1),
        Scored(rendition("recorded_voice", "recorded_voice/p_ouch.flac", "white +0 dB"), 0.6),
        Scored(rendition("recorded_voice", "recorded_voice/p_laugh.flac", "clean"), 0.7),
    ]
    families = field_report(recorded, 0.5)["false_positive_rate_by_family"]
    animals = families["recorded animals (Debian media: cats, dogs, birds, farm animals)"]
    assert animals == {"clips": 2, "false_positive_rate": 0.5}
    voices = families[
        "recorded voices and things (Debian media: coughs, sneezes, screams, pain, appliances)"
    ]
    assert voices == {"clips": 2, "false_positive_rate": 0.5}  # the laugh counts as laughter
    household = families["household (claps, knocks, coughs, alarms, laughter)"]
    assert household == {"clips": 1, "false_positive_rate": 1.0}


def test_no_hits_at_all_gives_no_precision_instead_of_dividing_by_zero() -> None:
    report = field_report(scored(), 0.99)
    assert report["precision"] is None
    assert report["recall"] == 0.0
    assert report["f1"] == 0.0


def test_families_name_categories_the_renditions_carry() -> None:
    from models.training.household import HOUSEHOLD

    members = {name for names in FAMILIES.values() for name in names}
    assert {f"household:{kind}" for kind in HOUSEHOLD} <= members
    assert len(members) == sum(len(names) for names in FAMILIES.values())  # none in two
