"""Sounds for the "not a cry" tests: fingerprints, cry events carrying them, the cloud's lists.

No audio: a fingerprint here is a random unit vector per seed, alike only to itself (two seeds'
vectors of 1024 values are nearly orthogonal), which is all the matching and storage need.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from models.contract import IgnoreList, IgnoreMark
from models.cry import CryEvent
from models.cry.fingerprint import FINGERPRINT_SIZE, normalised

# Backbone sha256s: the one the device runs, and another whose embeddings are never compared.
MODEL = "a" * 64
OTHER_MODEL = "b" * 64


def vector(seed: int) -> npt.NDArray[np.float32]:
    unit = normalised(np.random.default_rng(seed).normal(size=FINGERPRINT_SIZE))
    assert unit is not None
    return unit


def onset(seed: int, confidence: float = 0.9) -> CryEvent:
    """A ``cry_started`` whose onset sounds like ``vector(seed)``."""
    return CryEvent("cry_started", 1.0, 1.5, confidence, -30.0, fingerprint=vector(seed))


def ended(seed: int, confidence: float = 0.9) -> CryEvent:
    """A ``cry_ended`` whose whole episode sounds like ``vector(seed)``."""
    return CryEvent(
        "cry_ended", 9.0, 9.5, confidence, -30.0, duration_s=8.0, fingerprint=vector(seed)
    )


def ignore_list(
    device_id: str,
    revision: int,
    *episode_ids: int,
    marked_at: datetime,
    apart: timedelta = timedelta(0),
    ts: datetime | None = None,
) -> IgnoreList:
    """The cloud's list of ``revision`` marking ``episode_ids``: the first at ``marked_at``,
    each next one ``apart`` later."""
    return IgnoreList(
        device_id=device_id,
        seq=revision,
        ts=ts or marked_at,
        marks=[
            IgnoreMark(episode_id=episode, marked_at=marked_at + apart * index)
            for index, episode in enumerate(episode_ids)
        ],
    )
