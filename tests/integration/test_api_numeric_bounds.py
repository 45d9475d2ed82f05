"""Numbers the API takes are bounded to what a nursery can mean and a database can hold
(issue 27, findings 2 and 11): on both storage backends, out-of-range, NaN, Infinity and 1e309
settings and a 2^64 alert id are 422 with the reason, and nothing is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.harness.api import Api
from tests.integration.conftest import backend_url

# Sent as JSON text: NaN and Infinity are what Python's json (and so Starlette) accepts, and
# 1e309 is a valid JSON number that parses to infinity.
POISONED_SETTINGS = [
    ('{"nursery": {"offline_grace_s": 1e300}}', "offline_grace_s: must be between 0 and 86400"),
    ('{"nursery": {"climate_grace_s": 1e309}}', "climate_grace_s: must be a finite number"),
    ('{"nursery": {"alarm_cooldown_s": NaN}}', "alarm_cooldown_s: must be a finite number"),
    ('{"nursery": {"temperature_max_c": Infinity}}', "temperature_max_c: must be a finite"),
    ('{"nursery": {"humidity_min_pct": -Infinity}}', "humidity_min_pct: must be a finite"),
    ('{"nursery": {"offline_grace_s": 86401}}', "offline_grace_s: must be between 0 and 86400"),
    ('{"nursery": {"alarm_cooldown_s": 3601}}', "alarm_cooldown_s: must be between 0 and 3600"),
    ('{"nursery": {"temperature_max_c": 95}}', "temperature_max_c: must be between 0 and 40"),
    ('{"nursery": {"sick_body_temperature_c": 20}}', "sick_body_temperature_c: must be between"),
    ('{"device": {"cry_sensitivity": NaN}}', "cry_sensitivity"),
    ('{"device": {"telemetry_interval_s": 1e309}}', "telemetry_interval_s"),
]


@pytest.mark.parametrize(
    ("body", "reason"), POISONED_SETTINGS, ids=[b for b, _ in POISONED_SETTINGS]
)
def test_settings_out_of_range_or_not_finite_are_422_with_the_reason(
    api: Api, body: str, reason: str
) -> None:
    _alice, alice, _ = api.signup("Alice")
    device_id = api.claimed_device(alice)
    headers = {**alice, "Content-Type": "application/json"}
    refused = api.client.put(f"/devices/{device_id}/settings", headers=headers, content=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["msg"].startswith(reason)
    device = api.client.get(f"/devices/{device_id}", headers=alice).json()
    assert (device["nursery_settings"], device["device_settings"]) == ({}, {})


def test_settings_at_their_bounds_are_stored(api: Api) -> None:
    _alice, alice, _ = api.signup("Alice")
    device_id = api.claimed_device(alice)
    nursery = {"offline_grace_s": 86400, "climate_grace_s": 0, "alarm_cooldown_s": 3600}
    stored = api.client.put(
        f"/devices/{device_id}/settings", headers=alice, json={"nursery": nursery}
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["nursery_settings"] == nursery


@pytest.mark.parametrize("alert_id", [2**64, 2**63, 0, -1])
def test_alert_ids_beyond_what_the_database_holds_are_422(api: Api, alert_id: int) -> None:
    _alice, alice, _ = api.signup("Alice")
    refused = api.client.post("/alerts/read", headers=alice, json={"alert_ids": [alert_id]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "alert_ids", 0]


def test_the_largest_alert_id_is_accepted_and_matches_nothing(api: Api) -> None:
    _alice, alice, _ = api.signup("Alice")
    marked = api.client.post("/alerts/read", headers=alice, json={"alert_ids": [2**63 - 1]})
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"marked": 0}


def test_a_non_finite_number_where_an_id_belongs_is_422_not_500(api: Api) -> None:
    # The 422 answer echoes the input, and NaN cannot be written as JSON: it was a 500.
    _alice, alice, _ = api.signup("Alice")
    headers = {**alice, "Content-Type": "application/json"}
    refused = api.client.post("/alerts/read", headers=headers, content='{"alert_ids": [NaN]}')
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["input"] == "NaN"


def test_settings_an_older_version_stored_show_as_the_rules_use_them(
    api: Api, request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> None:
    _alice, alice, _ = api.signup("Alice")
    device_id = api.claimed_device(alice)
    stored = '{"offline_grace_s": 1e300, "climate_grace_s": "soon", "temperature_max_c": 24}'
    backend = request.node.callspec.params["api"]
    if backend != "sqlite":  # PostgreSQL, with or without TimescaleDB
        url = backend_url(request, backend, tmp_path / "api.db")
        with psycopg.connect(url) as postgres:
            postgres.execute(
                "UPDATE devices SET settings = %s::jsonb WHERE device_id = %s", (stored, device_id)
            )
    else:
        stored = stored.replace('"soon"', "NaN")  # only SQLite's JSON text can hold NaN
        lite = sqlite3.connect(tmp_path / "api.db")
        with lite:
            lite.execute("UPDATE devices SET settings = ? WHERE device_id = ?", (stored, device_id))
        lite.close()
    device = api.client.get(f"/devices/{device_id}", headers=alice)
    assert device.status_code == 200, device.text
    assert device.json()["nursery_settings"] == {"offline_grace_s": 86400, "temperature_max_c": 24}
