"""Recorded sounds from Debian packages: selection, grouping, de-duplication and the sha256 pin,
on small .deb files built here with the real dpkg-deb."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from models.cli import main as nursery_model
from models.training.dataset import file_sha256, read_manifest, split_by_group
from models.training.debian_sounds import (
    CATALOGUE,
    DebianPackage,
    DebianSoundsError,
    Selection,
    convert_debs,
    member_kind,
)
from tests.harness.external_material import missing_tool

RATE = 22_050


def _sound(seconds: float, pitch_hz: float, channels: int = 1, fmt: str = "WAV") -> bytes:
    tone = 0.3 * np.sin(2 * np.pi * pitch_hz * np.arange(int(seconds * RATE)) / RATE)
    samples = np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, RATE, format=fmt)
    return buffer.getvalue()


def _deb(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    if shutil.which("dpkg-deb") is None:
        missing_tool("dpkg-deb is not installed (it comes with dpkg on Debian and Ubuntu)")
    root = folder / f"{name}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: test\n"
    )
    for relative, data in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    deb = folder / DebianPackage(name, version, "", "", ()).deb_name
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def _games(folder: Path) -> DebianPackage:
    meow = _sound(0.8, 700)
    files = {
        "usr/share/games/zoo/sounds/meow.wav": meow,
        "usr/share/games/zoo/sounds/dog.ogg": _sound(1.2, 300, channels=2, fmt="OGG"),
        "usr/share/games/zoo/sounds/dog_desc_fr.ogg": _sound(1.0, 200, fmt="OGG"),  # spoken
        "usr/share/games/zoo/sounds/click.wav": _sound(0.05, 1000),  # too short to judge
        "usr/share/games/zoo/sounds/again/meow.wav": meow,  # the same file shipped twice
        "usr/share/games/zoo/voices/pirate/Laugh.ogg": _sound(1.0, 250, fmt="OGG"),
        "usr/share/games/zoo/voices/pirate/Ouch.ogg": _sound(0.5, 260, fmt="OGG"),
        "usr/share/games/zoo/voices/robot/Ouch.ogg": _sound(0.5, 400, fmt="OGG"),
        "usr/share/games/zoo/readme.txt": b"not a sound",
    }
    deb = _deb(folder, "zoo-data", "1:2.0-1", files)
    return DebianPackage(
        "zoo-data",
        "1:2.0-1",
        file_sha256(deb),
        "GPL-2+",
        (
            Selection("usr/share/games/zoo/sounds/*meow.wav", "cat"),
            Selection("usr/share/games/zoo/sounds/*", "animal"),
            Selection("usr/share/games/zoo/voices/*/*.ogg", "voice", one_group=True),
        ),
    )


def test_the_selected_sounds_become_flac_clips_grouped_by_file_or_voice_pack(
    tmp_path: Path,
) -> None:
    package = _games(tmp_path)
    manifest = convert_debs(tmp_path, tmp_path / "out", (package,))
    clips = {clip.path: clip for clip in read_manifest(manifest)}
    assert sorted(clips) == [
        "recorded_animal/zoo-data_sounds_dog.flac",
        "recorded_cat/zoo-data_again_meow.flac",  # once: sounds/meow.wav is the same bytes
        "recorded_voice/zoo-data_pirate_laugh.flac",
        "recorded_voice/zoo-data_pirate_ouch.flac",
        "recorded_voice/zoo-data_robot_ouch.flac",
    ]
    assert {clip.label for clip in clips.values()} == {"not_cry"}
    voices = [clip for clip in clips.values() if clip.source == "recorded_voice"]
    assert sorted({clip.group for clip in voices}) == ["zoo-data:pirate", "zoo-data:robot"]
    dog = clips["recorded_animal/zoo-data_sounds_dog.flac"]
    assert dog.group == "zoo-data:zoo-data_sounds_dog"
    assert dog.license.startswith("Debian zoo-data 1:2.0-1: GPL-2+")
    audio, rate = soundfile.read(str(manifest.parent / dog.path))
    assert audio.ndim == 1
    assert rate == RATE
    assert dog.duration_s == pytest.approx(1.2, abs=1e-3)
    # One actor's sounds never straddle splits.
    split = split_by_group(list(clips.values()), seed=3)
    homes = {name for name, part in split.items() for c in part if c.group == "zoo-data:pirate"}
    assert len(homes) == 1


def test_a_deb_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    package = _games(tmp_path)
    wrong = DebianPackage(package.name, package.version, "00" * 32, "", package.selections)
    with pytest.raises(DebianSoundsError, match="expected 00"):
        convert_debs(tmp_path, tmp_path / "out", (wrong,))
    with pytest.raises(DebianSoundsError, match="is missing"):
        convert_debs(tmp_path / "elsewhere", tmp_path / "out", (package,))
    # A file that has the pinned digest but is no Debian package.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / package.deb_name).write_bytes(b"not an ar archive")
    forged = DebianPackage(
        package.name, package.version, file_sha256(broken / package.deb_name), "", ()
    )
    with pytest.raises(DebianSoundsError, match="dpkg-deb cannot read"):
        convert_debs(broken, tmp_path / "out", (forged,))
    # The command names the problem and exits 2 (the real pins never match these files).
    argv = ["fetch-sounds", "--output", str(tmp_path / "cli"), "--debs", str(tmp_path)]
    assert nursery_model(argv) == 2


def _kind(package_name: str, member: str) -> str | None:
    package = next(p for p in CATALOGUE if p.name == package_name)
    selection = member_kind(package, member)
    return None if selection is None else selection.kind


@pytest.mark.parametrize(
    ("package", "member", "kind"),
    [
        ("tuxpaint-stamps-default", "stamps/seasonal/halloween/blackcat.ogg", "cat"),
        ("tuxpaint-stamps-default", "stamps/animals/mammals/dogs/dog.ogg", "animal"),
        ("tuxpaint-stamps-default", "stamps/animals/mammals/dogs/dog_desc_fr.ogg", None),
        ("tuxpaint-stamps-default", "stamps/animals/mammals/dogs/dog.png", None),
        ("scratch", "Media/Sounds/Animal/Meow.wav", "cat"),
        ("scratch", "Media/Sounds/Animal/Dog1.wav", "animal"),
        ("scratch", "Media/Sounds/Human/BabyCry.mp3", "cry"),
        ("scratch", "Media/Sounds/Human/Laugh-female.wav", "laughter"),
    ],
)
def test_the_catalogue_selects_cats_before_other_animals_and_skips_spoken_descriptions(
    package: str, member: str, kind: str | None
) -> None:
    root = "usr/share/tuxpaint" if package.startswith("tuxpaint") else "usr/share/scratch"
    assert _kind(package, f"{root}/{member}") == kind


def test_the_catalogue_pins_each_package_once() -> None:
    assert len({p.name for p in CATALOGUE}) == len(CATALOGUE)
    assert all(len(p.sha256) == 64 for p in CATALOGUE)
