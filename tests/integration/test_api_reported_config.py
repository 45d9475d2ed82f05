"""GET /devices/{id} shows what the device last reported on config/reported, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.storage.records import IngestBatch, ReportedConfigRow
from tests.harness.api import Api

REPORTED_KEYS = (
    "reported_revision", "reported_accepted", "reported_error", "reported_at",
    "reported_settings",
)  # fmt: skip


def test_the_device_shows_its_last_report(api: Api) -> None:
    _alice, alice, _ = api.signup("Alice")
    device_id = api.claimed_device(alice)
    before = api.client.get(f"/devices/{device_id}", headers=alice).json()
    assert {key: before[key] for key in REPORTED_KEYS} == dict.fromkeys(REPORTED_KEYS)

    changed = api.client.put(
        f"/devices/{device_id}/settings", headers=alice, json={"device": {"cry_sensitivity": 0.7}}
    )
    assert changed.status_code == 200, changed.text
    revision = changed.json()["device_settings_revision"]
    sent_at = datetime(2026, 11, 23, 6, 0, 1, 250000, tzinfo=UTC)
    refused = ReportedConfigRow(
        device_id, 42, sent_at, sent_at + timedelta(seconds=0.2), revision, False,
        {"cry_sensitivity": 0.5}, "cry_sensitivity: not supported by this model",
    )  # fmt: skip
    result = api.run(api.storage.ingest, IngestBatch(reported=[refused]))
    assert result.reported_applied == 1

    shown = api.client.get(f"/devices/{device_id}", headers=alice).json()
    assert {key: shown[key] for key in REPORTED_KEYS} == {
        "reported_revision": revision,
        "reported_accepted": False,
        "reported_error": "cry_sensitivity: not supported by this model",
        "reported_settings": {"cry_sensitivity": 0.5},
        "reported_at": shown["reported_at"],
    }
    assert datetime.fromisoformat(shown["reported_at"]) == sent_at
    (listed,) = api.client.get("/devices", headers=alice).json()
    assert listed == shown
