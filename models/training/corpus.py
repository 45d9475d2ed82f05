"""Decoding a data manifest's clips to model-rate audio, cached on local disk between runs."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.cry.audio import load_audio
from models.training.dataset import Clip

LOG = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]
DECODE_WORKERS = 2


def _decode(job: tuple[str, int]) -> FloatArray:
    path, rate = job
    return load_audio(path, rate)


def decode_clips(
    clips: Sequence[Clip], data_root: Path, rate: int, cache_dir: Path | None, cache_key: str
) -> dict[str, FloatArray]:
    """Audio of every clip keyed by its manifest path; reuses ``cache_dir/<key>-<rate>.npz``."""
    cache = cache_dir / f"corpus-{cache_key[:16]}-{rate}.npz" if cache_dir else None
    if cache is not None and cache.exists():
        LOG.info("reading decoded audio from cache %s", cache)
        with np.load(cache) as stored:
            audio, offsets = stored["audio"], stored["offsets"]
            names = [str(name) for name in stored["names"]]
        return {name: audio[offsets[i] : offsets[i + 1]] for i, name in enumerate(names)}
    LOG.info("decoding %d clips to %d Hz", len(clips), rate)
    jobs = [(str(data_root / clip.path), rate) for clip in clips]
    with multiprocessing.get_context("fork").Pool(DECODE_WORKERS) as pool:
        decoded = pool.map(_decode, jobs, chunksize=64)
    result = {clip.path: samples for clip, samples in zip(clips, decoded, strict=True)}
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(samples) for samples in decoded])
        np.savez(
            cache,
            audio=np.concatenate(decoded),
            offsets=offsets,
            names=np.array([clip.path for clip in clips]),
        )
        LOG.info("cached decoded audio in %s", cache)
    return result
