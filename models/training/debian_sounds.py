"""Recorded household, animal and voice sounds for training, from Debian's own packages.

Why: the corpus's non-cries are mostly spoken words; the issue's real-home negatives (cats,
dogs, laughter, coughs, sneezes, screams, appliances) are in it only as a few ESC-50 clips or as
synthesized stand-ins (models/training/household.py). Debian ships real recordings of exactly
those sounds as the media of free games and children's programs (Scratch's sound library, Tux
Paint's stamp sounds, Hedgewars' voice packs, ...). The Debian archive is one of the package
registries a training machine may reach, and every package in `main` is free software.

Each package is pinned by version and the .deb's sha256. ``fetch_debian_sounds`` downloads them
with ``apt-get download`` (no root needed) or takes .deb files already on disk, reads the
selected members with ``dpkg-deb --fsys-tarfile``, and writes mono 16-bit FLAC clips and a
manifest in the corpus's format. One source per kind of sound (``recorded_cat``, ...), so the
group split sends some of every kind to validation and test; a group is one file, except that
a voice pack (one actor) is one group. A sound found twice (one package reusing another's file)
is written once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import logging
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile

from models.cry.audio import to_mono
from models.training.dataset import Clip, file_sha256, write_manifest

LOG = logging.getLogger(__name__)
Progress = Callable[[str], None]
AUDIO_SUFFIXES = (".wav", ".ogg", ".mp3", ".flac")
SOURCE_PREFIX = "recorded_"
# Clips shorter than this are clicks, not sounds a detector has to judge.
MIN_DURATION_S = 0.25


class DebianSoundsError(RuntimeError):
    """A package could not be downloaded, is not the one pinned, or has no selected sounds."""


@dataclass(frozen=True)
class Selection:
    """Members of a package matching ``pattern`` (fnmatch on the path inside the package)."""

    pattern: str
    kind: str  # cat, laughter, voice, animal, household, cry
    one_group: bool = False  # True: all matches of the pattern's folder are one speaker/pack


@dataclass(frozen=True)
class DebianPackage:
    name: str
    version: str
    sha256: str
    license: str
    selections: tuple[Selection, ...]

    @property
    def deb_name(self) -> str:
        # apt-get names the file with the epoch's colon escaped as %3a.
        return f"{self.name}_{self.version.replace(':', '%3a')}_all.deb"


SCRATCH = "usr/share/scratch/Media/Sounds"
HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices/*"
STAMPS = "usr/share/tuxpaint/stamps"
# Hedgewars' non-word vocalisations: laughing, pain, dismay, coughing, moaning - adult sounds
# nearest a cry. A pack's laugh stays in the pack's group (one actor); "laugh" in its path still
# makes it laughter for training and the reports (renditions.is_laughter).
HEDGEWARS_VOCALS: tuple[str, ...] = (
    *("Laugh", "Nooo", "Ow1", "Ow2", "Ow3", "Ow4", "Ooff1", "Ooff2", "Ooff3", "Ouch"),
    *("PoisonCough", "PoisonMoan", "Hmm", "Uh-oh", "Oops"),
)

CATALOGUE: tuple[DebianPackage, ...] = (
    DebianPackage(
        "scratch",
        "1.4.0.6~dfsg1-6.1",
        "36c582eb93110f64f06c4e685c41e933ccba2fa68db12f79b10bfe840b21fc10",
        "CC-BY-SA-3.0 (Scratch media library, MIT)",
        (
            Selection(f"{SCRATCH}/Animal/Cat.mp3", "cat"),
            Selection(f"{SCRATCH}/Animal/Kitten.wav", "cat"),
            Selection(f"{SCRATCH}/Animal/Meow.wav", "cat"),
            Selection(f"{SCRATCH}/Animal/*", "animal"),
            Selection(f"{SCRATCH}/Human/BabyCry.mp3", "cry"),
            Selection(f"{SCRATCH}/Human/Laugh-*", "laughter"),
            Selection(f"{SCRATCH}/Human/Cough-*", "voice"),
            Selection(f"{SCRATCH}/Human/Sneeze-*", "voice"),
            Selection(f"{SCRATCH}/Human/Scream-*", "voice"),
            Selection(f"{SCRATCH}/Human/*", "household"),
            Selection(f"{SCRATCH}/Effects/*", "household"),
        ),
    ),
    DebianPackage(
        "tuxpaint-stamps-default",
        "2022.06.04-1",
        "6db6c1bfc870a47f1499d6203b083522eacb57c5f9c87d468f2e92eb6d9d5f34",
        "GPL-2 (Tux Paint stamps)",
        (
            Selection(f"{STAMPS}/seasonal/halloween/blackcat.ogg", "cat"),
            Selection(f"{STAMPS}/animals/*", "animal"),
            Selection(f"{STAMPS}/household/*", "household"),
            Selection(f"{STAMPS}/hobbies/*", "household"),
            Selection(f"{STAMPS}/naturalforces/*", "household"),
            Selection(f"{STAMPS}/vehicles/*", "household"),
            Selection(f"{STAMPS}/seasonal/*", "household"),
        ),
    ),
    DebianPackage(
        "hedgewars-data",
        "1.0.2-6",
        "722225903a72604403e6e0026e40e9a6953f47a74d94efc5f55504bc05bb4761",
        "GFDL-1.3 (Hedgewars sounds)",
        (
            *(
                Selection(f"{HEDGEWARS_VOICES}/{name}.ogg", "voice", one_group=True)
                for name in HEDGEWARS_VOCALS
            ),
        ),
    ),
    DebianPackage(
        "tuxpaint-data",
        "1:0.9.28-sdl2-1",
        "f5d0de8f9a70d2efc1241d19f26168cb8bf279f1b77abd3631e7a1a55c40e5e5",
        "GPL-2+ (Tux Paint sounds)",
        (Selection("usr/share/tuxpaint/sounds/giggle.wav", "laughter"),),
    ),
    DebianPackage(
        "brainparty-data",
        "0.61+dfsg-7",
        "fc01026824b6274eff222c9163ba134fc90889bd7d688091ffdee8e12cefc4d4",
        "GPL-3+ / CC-BY-SA-3.0 (Brain Party data)",
        (Selection("usr/share/games/brainparty/meow.wav", "cat"),),
    ),
    DebianPackage(
        "xemacs21-basesupport",
        "2009.02.17.dfsg.3-1",
        "439b91026324abc90a975df7aaaecdedd984a83a2524c0d2ab3f64a5dc79cebb",
        "GPL-2+ (XEmacs sounds)",
        (Selection("usr/share/xemacs21/xemacs-packages/etc/sounds/catmeow.wav", "cat"),),
    ),
    DebianPackage(
        "btanks-data",
        "0.9.8083-9",
        "fbe1a476d95c68fe73d87715f4f0aecc1bc5428a979cd19451722665c9dbb5ae",
        "Battle Tanks data (free, Debian main)",
        (Selection("usr/share/games/btanks/data/sounds/laugh0*.ogg", "laughter"),),
    ),
    DebianPackage(
        "monsterz-data",
        "0.7.1-12",
        "8dc0fd62ac88995c27555714b70c3f6fbb67a6f42817a407139c847adb457d85",
        "GPL-2+ / WTFPL (Monsterz data)",
        (Selection("usr/share/games/monsterz/sound/laugh.wav", "laughter"),),
    ),
    DebianPackage(
        "trackballs-data",
        "1.3.4-1",
        "ebc05f997c12896d8a0016990efbf01445b65b66f1eb45759a6277426cc13dac",
        "GPL-2+ / CC0-1.0 (Trackballs data)",
        (Selection("usr/share/games/trackballs/sfx/*laugh.wav", "laughter"),),
    ),
)


def member_kind(package: DebianPackage, member: str) -> Selection | None:
    """The first selection that takes this member, or None (so order matters: cats first)."""
    if not member.lower().endswith(AUDIO_SUFFIXES) or "_desc" in PurePosixPath(member).name:
        return None  # Tux Paint's *_desc*.ogg are spoken descriptions, not the sound
    for selection in package.selections:
        if fnmatch.fnmatchcase(member, selection.pattern):
            return selection
    return None


def clip_name(package: DebianPackage, member: str) -> str:
    """``usr/share/.../voices/Pirate/Laugh.ogg`` -> ``hedgewars-data_pirate_laugh``."""
    path = PurePosixPath(member)
    stem = re.sub(r"[^a-z0-9]+", "_", f"{path.parent.name}_{path.stem}".lower()).strip("_")
    return f"{package.name}_{stem[:60]}"


def download_debs(packages: tuple[DebianPackage, ...], dest: Path) -> None:
    """``apt-get download`` each pinned package version into ``dest``."""
    for package in packages:
        command = ["apt-get", "download", f"{package.name}={package.version}"]
        result = subprocess.run(  # noqa: S603
            command, cwd=dest, capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not (dest / package.deb_name).is_file():
            raise DebianSoundsError(
                f"apt-get could not download {package.name}={package.version}:"
                f" {result.stderr.strip()[-400:]} (download the .deb files elsewhere and pass"
                " their folder with --debs)"
            )


def selected_members(deb: Path, package: DebianPackage) -> list[tuple[str, Selection, bytes]]:
    """(path, selection, bytes) of the package's selected sounds, by path, read as a stream
    from ``dpkg-deb --fsys-tarfile``: only those members are read, and the archive (hundreds
    of MB for some packages) is never held in memory."""
    command = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    selected: list[tuple[str, Selection, bytes]] = []
    # stderr to a file: a pipe nobody reads could fill and stall dpkg-deb mid-archive.
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as dpkg,  # noqa: S603
    ):
        if dpkg.stdout is None:  # never: stdout is a pipe (narrows the type)
            raise DebianSoundsError(f"dpkg-deb gave no output for {deb}")
        try:
            with tarfile.open(fileobj=dpkg.stdout, mode="r|") as archive:
                for info in archive:
                    member = info.name.removeprefix("./")
                    selection = member_kind(package, member) if info.isfile() else None
                    handle = archive.extractfile(info) if selection is not None else None
                    if selection is not None and handle is not None:
                        selected.append((member, selection, handle.read()))
        except tarfile.TarError as exc:
            dpkg.kill()
            raise DebianSoundsError(f"dpkg-deb cannot read {deb}: {exc}") from exc
        dpkg.wait()
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
    if dpkg.returncode != 0:
        raise DebianSoundsError(f"dpkg-deb cannot read {deb}: {message[-300:]}")
    return sorted(selected, key=lambda item: item[0])


def convert_debs(
    debs_dir: Path,
    output_dir: Path,
    packages: tuple[DebianPackage, ...] = CATALOGUE,
    progress: Progress | None = None,
) -> Path:
    """Write the selected sounds of each package as FLAC plus ``manifest.csv``; return it."""
    clips: list[Clip] = []
    seen: set[str] = set()
    for package in packages:
        deb = debs_dir / package.deb_name
        if not deb.is_file():
            raise DebianSoundsError(f"{deb} is missing ({package.name} {package.version})")
        actual = file_sha256(deb)
        if actual != package.sha256:
            raise DebianSoundsError(
                f"{deb} has sha256 {actual}, expected {package.sha256} ({package.name})"
            )
        before = len(clips)
        # By path, so that which copy of a duplicated sound is kept does not depend on the
        # archive's order.
        for member, selection, data in selected_members(deb, package):
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            clip = _write_clip(package, selection, member, data, output_dir)
            if clip is not None:
                clips.append(clip)
        if len(clips) == before:
            raise DebianSoundsError(f"{package.name} {package.version} gave no sounds")
        if progress is not None:
            progress(f"{package.name}: {len(clips) - before} sounds")
    manifest = output_dir / "manifest.csv"
    write_manifest(manifest, clips)
    LOG.info("wrote %d recorded sounds and %s", len(clips), manifest)
    return manifest


def _write_clip(
    package: DebianPackage, selection: Selection, member: str, data: bytes, output_dir: Path
) -> Clip | None:
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    mono = to_mono(np.asarray(samples))
    if len(mono) < MIN_DURATION_S * rate or not np.any(mono):
        return None
    source = f"{SOURCE_PREFIX}{selection.kind}"
    name = clip_name(package, member)
    relative = f"{source}/{name}.flac"
    target = output_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(target), mono, int(rate), subtype="PCM_16")
    parent = PurePosixPath(member).parent.name.lower()
    group = f"{package.name}:{parent}" if selection.one_group else f"{package.name}:{name}"
    return Clip(
        path=relative,
        label="cry" if selection.kind == "cry" else "not_cry",
        source=source,
        group=group,
        sample_rate=int(rate),
        duration_s=round(len(mono) / int(rate), 3),
        license=f"Debian {package.name} {package.version}: {package.license}"
        " - training only, not redistributed",
    )


def fetch_debian_sounds(
    output_dir: Path, debs_dir: Path | None = None, progress: Progress | None = None
) -> Path:
    """Download (unless ``debs_dir`` holds them), verify and convert; return the manifest."""
    if debs_dir is not None:
        return convert_debs(debs_dir, output_dir, progress=progress)
    with tempfile.TemporaryDirectory(prefix="nursery-debian-sounds-") as tmp:
        if progress is not None:
            progress(f"downloading {len(CATALOGUE)} packages with apt-get")
        download_debs(CATALOGUE, Path(tmp))
        return convert_debs(Path(tmp), output_dir, progress=progress)
