"""Remote config: validated, applied once per revision, persisted, answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edge.remote_config import RemoteConfig
from models.contract import DesiredConfig, DeviceSettings, ReportedConfig

DEVICE = "nursery-test"


class Recorder:
    def __init__(self) -> None:
        self.applied: list[DeviceSettings] = []
        self.reports: list[ReportedConfig] = []


def remote(tmp_path: Path, recorder: Recorder, local: DeviceSettings | None = None) -> RemoteConfig:
    return RemoteConfig(
        DEVICE,
        local or DeviceSettings(),
        tmp_path / "remote.json",
        apply=recorder.applied.append,
        report=recorder.reports.append,
        high_water_seq=lambda: 41,
    )


def desired(revision: int, **settings: float | bool) -> DesiredConfig:
    return DesiredConfig(device_id=DEVICE, seq=revision, ts=datetime.now(UTC), settings=settings)


def test_a_valid_revision_is_applied_persisted_and_reported(tmp_path: Path) -> None:
    recorder = Recorder()
    config = remote(tmp_path, recorder)
    config.handle(desired(3, telemetry_interval_s=30, cry_sensitivity=0.7))
    assert recorder.applied[-1].telemetry_interval_s == 30.0
    assert recorder.applied[-1].cry_sensitivity == 0.7
    report = recorder.reports[-1]
    assert (report.revision, report.accepted, report.error, report.seq) == (3, True, None, 41)
    assert report.settings["telemetry_interval_s"] == 30.0
    stored = json.loads((tmp_path / "remote.json").read_text())
    assert stored == {
        "revision": 3,
        "overrides": {"telemetry_interval_s": 30, "cry_sensitivity": 0.7},
    }


def test_a_bad_revision_is_refused_naming_the_key_and_changes_nothing(tmp_path: Path) -> None:
    recorder = Recorder()
    config = remote(tmp_path, recorder)
    config.handle(desired(4, cry_sensitivity=1.5))
    config.handle(desired(5, telemetry_intervall_s=5))
    assert recorder.applied == []
    assert [r.accepted for r in recorder.reports] == [False, False]
    assert recorder.reports[0].error is not None
    assert recorder.reports[0].error.startswith("cry_sensitivity:")
    assert recorder.reports[1].error == "telemetry_intervall_s: unknown setting"
    assert recorder.reports[1].settings == DeviceSettings().model_dump()
    assert not (tmp_path / "remote.json").exists()


def test_the_retained_copy_is_not_applied_twice_and_old_revisions_are_ignored(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    config = remote(tmp_path, recorder)
    config.handle(desired(7, status_interval_s=120))
    config.handle(desired(7, status_interval_s=120))
    config.handle(desired(6, status_interval_s=30))
    assert len(recorder.applied) == 1
    assert config.current.status_interval_s == 120.0


def test_each_revision_replaces_the_previous_overrides_on_top_of_the_local_file(
    tmp_path: Path,
) -> None:
    recorder = Recorder()
    config = remote(tmp_path, recorder, DeviceSettings(telemetry_interval_s=20.0))
    config.handle(desired(1, telemetry_interval_s=5, cry_cooldown_s=30))
    config.handle(desired(2, cry_cooldown_s=60))
    assert config.current.telemetry_interval_s == 20.0  # back to the local file's value
    assert config.current.cry_cooldown_s == 60.0


def test_a_restart_comes_back_with_the_accepted_settings_and_reports_them(
    tmp_path: Path,
) -> None:
    first = Recorder()
    remote(tmp_path, first).handle(desired(9, cry_detection_enabled=False))
    second = Recorder()
    restarted = remote(tmp_path, second)
    assert restarted.restore().cry_detection_enabled is False
    assert restarted.revision == 9
    restarted.report_current()
    assert second.reports[-1].revision == 9
    assert second.reports[-1].accepted


def test_a_corrupt_state_file_is_ignored_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "remote.json").write_text("{not json")
    config = remote(tmp_path, Recorder())
    assert config.restore() == DeviceSettings()
    assert config.revision == -1
