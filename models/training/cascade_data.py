"""The material the head learns from, the material that picks its threshold, and the field test.

All three are renditions (models/training/renditions.py) of one split's clips only, with their
own seeds and ambience recordings:

- training: every training clip in ``rounds`` random conditions, laughter also pitched up
  (adult laughs at an infant's pitch are the nearest thing to a baby's laugh we can get),
  synthesized household sounds, and noise beds alone (a white-noise machine is not a cry);
- validation: the same recipe on validation clips, fewer rounds;
- field test: test clips under a fixed sweep - every cry clean and at +20..-5 dB SNR in each
  kind of bed, household sounds, animals, laughter and the recorded sounds of `fetch-sounds` in
  noise, beds alone - scored only for the report, after the threshold is fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from models.training.dataset import Clip
from models.training.debian_sounds import SOURCE_PREFIX as RECORDED_SOURCE_PREFIX
from models.training.renditions import (
    NOISE_KINDS,
    ConditionParams,
    Rendition,
    bed_renditions,
    corpus_renditions,
    household_renditions,
    is_laughter,
    render,
)

FloatArray = npt.NDArray[np.float32]
# The spoken-word sources have thousands of near-identical clips; a few hundred say it all.
SUBSAMPLE = {"speech_commands": 500, "spoken_digits": 200}
FIELD_SNRS_DB = (20.0, 10.0, 5.0, 0.0, -5.0)


@dataclass(frozen=True)
class RecipeParams:
    rounds: int
    household_per_kind: int
    beds_per_kind: int
    pitched_laughter_rounds: int
    subsample_fraction: float = 1.0  # of SUBSAMPLE's counts


TRAINING_RECIPE = RecipeParams(
    rounds=4, household_per_kind=60, beds_per_kind=40, pitched_laughter_rounds=9
)
VALIDATION_RECIPE = RecipeParams(
    rounds=2,
    household_per_kind=20,
    beds_per_kind=15,
    pitched_laughter_rounds=8,
    subsample_fraction=0.3,
)


def subsample(clips: Sequence[Clip], fraction: float, rng: np.random.Generator) -> list[Clip]:
    by_source: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_source[clip.source].append(clip)
    kept: list[Clip] = []
    for source, items in sorted(by_source.items()):
        limit = SUBSAMPLE.get(source)
        if limit is not None and not items[0].is_cry:
            count = min(len(items), max(1, int(limit * fraction)))
            chosen = sorted(rng.choice(len(items), size=count, replace=False))
            items = [items[int(i)] for i in chosen]
        kept += items
    return kept


def recipe_renditions(
    clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    ambience: Sequence[FloatArray],
    recipe: RecipeParams,
    seed: int,
    tag: str,
) -> Iterator[Rendition]:
    rng = np.random.default_rng(seed)
    params = ConditionParams()
    chosen = subsample(clips, recipe.subsample_fraction, rng)
    yield from corpus_renditions(chosen, audio, recipe.rounds, rng, params, ambience)
    laughs = [clip for clip in chosen if is_laughter(clip.path, clip.is_cry)]
    pitched = replace(params, high_voice_probability=1.0, high_voice_speed=(1.3, 2.0))
    for rendition in corpus_renditions(
        laughs, audio, recipe.pitched_laughter_rounds, rng, pitched, ambience
    ):
        yield replace(rendition, source=f"{rendition.source} (pitched up)")
    yield from household_renditions(recipe.household_per_kind, rng, params, ambience, tag)
    yield from bed_renditions(recipe.beds_per_kind, rng, ambience, tag)


def field_test_renditions(
    clips: Sequence[Clip],
    audio: Mapping[str, FloatArray],
    ambience: Sequence[FloatArray],
    seed: int,
) -> Iterator[Rendition]:
    """The fixed sweep of the test split (see the module docstring)."""
    rng = np.random.default_rng(seed)
    params = ConditionParams()
    chosen = subsample(clips, 0.2, rng)
    for clip in chosen:
        sound = audio[clip.path]
        if not len(sound):
            continue
        sweep: list[tuple[str | None, float | None]] = [(None, None)]
        if (
            clip.is_cry
            or clip.source in ("esc50", "home_recordings")
            or clip.source.startswith(RECORDED_SOURCE_PREFIX)
            or is_laughter(clip.path, clip.is_cry)
        ):
            sweep += [
                (NOISE_KINDS[(i + j) % len(NOISE_KINDS)], snr)
                for j, snr in enumerate(FIELD_SNRS_DB)
                for i in range(2 if clip.is_cry else 1)
            ]
        for kind, snr in sweep:
            clean = kind is None
            mixed, condition, active = render(
                sound,
                clip.is_cry,
                rng,
                replace(params, clean_probability=1.0) if clean else params,
                ambience,
                kind=kind,
                snr_db=snr,
                room=not clean,
            )
            yield Rendition(mixed, clip.is_cry, clip.source, condition, clip.path, active)
    yield from household_renditions(25, rng, params, ambience, "field")
    yield from bed_renditions(12, rng, ambience, "field")
