"""Explained alerts: the AudioSet labels YAMNet heard most during an episode.

A parent woken at 3 a.m. is better served by "Baby cry 0.93, Whimper 0.41, Speech 0.08" than by
a bare score: it shows why the monitor thinks so, and when it is wrong (a TV, a cat) it shows
that too. Only these label names and scores leave the device, never audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.cry.cascade import BackboneRun


def top_labels(
    runs: Sequence[BackboneRun], class_names: Sequence[str], count: int
) -> list[tuple[str, float]]:
    """The ``count`` classes with the highest mean score over the runs, best first."""
    if not runs or not class_names or count <= 0:
        return []
    mean = np.mean(np.stack([run.class_scores for run in runs]), axis=0)
    best = np.argsort(-mean, kind="stable")[:count]
    return [(class_names[int(i)], round(float(mean[int(i)]), 3)) for i in best]
