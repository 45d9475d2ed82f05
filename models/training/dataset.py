"""The shared-format data manifest (path,label,source,group,...) and the group-level split."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import posixpath
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

LOG = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("path", "label", "source", "group", "sample_rate", "duration_s", "license")
CRY_LABEL = "cry"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Clip:
    """One row of a data manifest; ``path`` is relative to the manifest's folder."""

    path: str
    label: str
    source: str
    group: str
    sample_rate: int
    duration_s: float
    license: str

    @property
    def is_cry(self) -> bool:
        return self.label == CRY_LABEL


def read_manifest(path: Path) -> list[Clip]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(MANIFEST_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: manifest lacks columns {sorted(missing)}")
        return [
            Clip(
                path=row["path"],
                label=row["label"],
                source=row["source"],
                group=row["group"],
                sample_rate=int(row["sample_rate"]),
                duration_s=float(row["duration_s"]),
                license=row["license"],
            )
            for row in reader
        ]


def read_manifests(main: Path, extras: Sequence[Path] = ()) -> list[Clip]:
    """The main manifest's clips, then each extra manifest's, paths relative to main's folder.

    Extra manifests (e.g. ``nursery-model fetch-laughter``) add sources that the shared data
    lacks; rebasing their paths lets every consumer resolve clips against one data root.
    """
    clips = read_manifest(main)
    for extra in extras:
        offset = Path(os.path.relpath(extra.resolve().parent, main.resolve().parent)).as_posix()
        clips += [
            replace(clip, path=posixpath.normpath(posixpath.join(offset, clip.path)))
            for clip in read_manifest(extra)
        ]
    return clips


def manifests_sha256(main: Path, extras: Sequence[Path] = ()) -> str:
    """The main manifest's sha256 alone, or a digest over all manifests' digests when extended."""
    if not extras:
        return file_sha256(main)
    digests = "\n".join(file_sha256(path) for path in (main, *extras))
    return hashlib.sha256(digests.encode("ascii")).hexdigest()


def write_manifest(path: Path, clips: Iterable[Clip]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for clip in clips:
            writer.writerow(
                [
                    clip.path,
                    clip.label,
                    clip.source,
                    clip.group,
                    clip.sample_rate,
                    clip.duration_s,
                    clip.license,
                ]
            )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class SplitFractions:
    validation: float = 0.15
    test: float = 0.15


def _split_counts(n_groups: int, fractions: SplitFractions) -> tuple[int, int]:
    """Groups for (validation, test) in one stratum; every stratum with >= 2 groups reaches test.

    With very few groups (2-3 speakers or installs) we still hold one out for test, because a
    source that never appears in test has no measured accuracy at all.
    """
    if n_groups <= 1:
        return 0, 0
    if n_groups == 2:
        return 0, 1
    n_test = max(1, round(n_groups * fractions.test))
    n_val = max(1, round(n_groups * fractions.validation))
    return n_val, n_test


def split_by_group(
    clips: Sequence[Clip], seed: int, fractions: SplitFractions | None = None
) -> dict[str, list[Clip]]:
    """Deterministic group-level split, stratified by (label, source).

    Groups (recording, speaker, install) never straddle splits; the shuffle of each stratum's
    sorted group ids uses its own seeded RNG so adding a source does not reshuffle the others.
    """
    fractions = fractions or SplitFractions()
    groups_by_stratum: dict[tuple[str, str], set[str]] = defaultdict(set)
    for clip in clips:
        groups_by_stratum[(clip.label, clip.source)].add(clip.group)
    split_of_group: dict[str, str] = {}
    for stratum in sorted(groups_by_stratum):
        groups = sorted(groups_by_stratum[stratum])
        random.Random(f"{seed}:{stratum[0]}:{stratum[1]}").shuffle(groups)  # noqa: S311
        n_val, n_test = _split_counts(len(groups), fractions)
        for index, group in enumerate(groups):
            if index < n_test:
                split = "test"
            elif index < n_test + n_val:
                split = "validation"
            else:
                split = "train"
            if split_of_group.setdefault(group, split) != split:
                raise ValueError(f"group {group} spans strata; cannot split it consistently")
    result: dict[str, list[Clip]] = {name: [] for name in SPLITS}
    for clip in clips:
        result[split_of_group[clip.group]].append(clip)
    for name in SPLITS:
        LOG.info("split %s: %d clips", name, len(result[name]))
    return result
