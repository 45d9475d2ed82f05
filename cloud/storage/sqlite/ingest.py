"""One collector batch in one SQLite transaction (the same semantics as postgres/ingest.py)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from cloud.alerting import (
    METRICS,
    DeviceRules,
    changed_states,
    evaluate_batch,
    evaluate_presence,
    settings_from_json,
    state_keys,
)
from cloud.rules import NewAlert
from cloud.storage.dead_letter_plan import capped
from cloud.storage.heard import heard_text
from cloud.storage.ingest_plan import (
    CLOCK_DRIFT_THRESHOLD_S,
    liveness,
    newest_reported,
    newest_statuses,
    reported_is_newer,
    split_known,
)
from cloud.storage.live_readings import latest_per_device
from cloud.storage.not_a_cry_plan import (
    devices_citing_marks,
    ignored_text,
    log_device_behind,
    log_device_overtaken,
    revision_held_by_device,
    status_details_to_store,
)
from cloud.storage.records import (
    EventRow,
    IngestBatch,
    IngestResult,
    ReportedConfigRow,
    StatusRow,
    StoredAlert,
    TelemetryRow,
)
from cloud.storage.rule_heal import heal_future_times
from cloud.storage.sqlite.alarms import insert_alert, maintain_gaps, settle_offline_alarms
from cloud.storage.sqlite.database import Transaction, optional_time, to_db_time

logger = logging.getLogger(__name__)

_INSERT_READING = """
INSERT INTO readings (source, time, received_at, device_id, seq, temperature, humidity,
                      sound_dbfs_avg, sound_dbfs_max)
VALUES ('device', ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, seq, time) DO NOTHING
"""
_INSERT_EVENT = """
INSERT INTO events (time, received_at, device_id, seq, kind, episode_id, confidence, sound_dbfs,
                    duration_s, end_reason, heard, ignored)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (device_id, seq, time) DO NOTHING
"""


def _insert_readings(conn: sqlite3.Connection, rows: list[TelemetryRow]) -> list[TelemetryRow]:
    new = []
    for r in rows:
        cursor = conn.execute(_INSERT_READING, (
            to_db_time(r.time), to_db_time(r.received_at), r.device_id, r.seq, r.temperature,
            r.humidity, r.sound_dbfs_avg, r.sound_dbfs_max,
        ))  # fmt: skip
        if cursor.rowcount == 1:
            new.append(r)
    return new


def _insert_events(conn: sqlite3.Connection, rows: list[EventRow]) -> list[EventRow]:
    new = []
    for r in rows:
        cursor = conn.execute(_INSERT_EVENT, (
            to_db_time(r.time), to_db_time(r.received_at), r.device_id, r.seq, r.kind,
            r.episode_id, r.confidence, r.sound_dbfs, r.duration_s, r.end_reason,
            heard_text(r.heard), ignored_text(r.ignored),
        ))  # fmt: skip
        if cursor.rowcount == 1:
            new.append(r)
    return new


# A device that holds a newer "not a cry" list than the server (not_a_cry_plan's
# revision_held_by_device): the server's list becomes one revision newer than the device's, so
# the API's sync sends it and the device takes it.
OVERTAKE_DEVICE_REVISION = (
    "UPDATE devices SET ignore_list_revision = ? + 1"
    " WHERE device_id = ? AND ignore_list_revision < ?"
)
# A device that holds an older list than the one noted as handed to the broker (not_a_cry_plan's
# log_device_behind): the note comes down to what the device holds, so the API's sync sends
# the list again.
RESEND_TO_DEVICE_BEHIND = (
    "UPDATE devices SET ignore_list_published_revision = ?"
    " WHERE device_id = ? AND ignore_list_published_revision > ?"
)


def _apply_statuses(
    conn: sqlite3.Connection, statuses: list[StatusRow], devices: dict[str, sqlite3.Row]
) -> tuple[int, list[StatusRow], list[StatusRow]]:
    applied, changes, applied_rows = 0, [], []
    for device_id, status in newest_statuses(statuses).items():
        device = devices[device_id]
        stored_at = optional_time(device["status_at"])
        stored = json.loads(device["status"])
        details = status_details_to_store(status, stored)
        if stored_at is not None and (
            status.received_at <= stored_at
            # The stored status again (a retained status re-sent to a new subscription).
            or (status.online == bool(device["online"]) and details == stored)
        ):
            continue
        conn.execute(
            "UPDATE devices SET online = ?, status_at = ?, firmware_version = ?, model_version = ?,"
            " status = ? WHERE device_id = ?",
            (status.online, to_db_time(status.received_at), status.firmware_version,
             status.model_version, json.dumps(details), device_id),
        )  # fmt: skip
        held = revision_held_by_device(status)
        overtake = (held, device_id, held)
        if held is not None and conn.execute(OVERTAKE_DEVICE_REVISION, overtake).rowcount:
            log_device_overtaken(device_id, held)
        if held is not None and conn.execute(RESEND_TO_DEVICE_BEHIND, overtake).rowcount:
            log_device_behind(device_id, held)
        applied += 1
        applied_rows.append(status)
        if status.online != bool(device["online"]):
            changes.append(status)
    return applied, changes, applied_rows


def _apply_reported(
    conn: sqlite3.Connection, reported: list[ReportedConfigRow], devices: dict[str, sqlite3.Row]
) -> int:
    applied = 0
    for device_id, row in newest_reported(reported).items():
        device = devices[device_id]
        if not reported_is_newer(
            row, device["reported_revision"], optional_time(device["reported_at"])
        ):
            continue
        conn.execute(
            "UPDATE devices SET reported_revision = ?, reported_accepted = ?,"
            " reported_settings = ?, reported_error = ?, reported_at = ? WHERE device_id = ?",
            (row.revision, row.accepted, json.dumps(row.settings), row.error,
             to_db_time(row.time), device_id),
        )  # fmt: skip
        applied += 1
    return applied


def _update_liveness(
    conn: sqlite3.Connection, batch: IngestBatch, new_rows: Sequence[TelemetryRow | EventRow]
) -> None:
    for device in liveness(batch, new_rows):
        conn.execute(
            "UPDATE devices SET last_seen = max(coalesce(last_seen, ''), ?) WHERE device_id = ?",
            (to_db_time(device.last_seen), device.device_id),
        )
        if device.newest_seq is None or device.clock_offset_s is None:
            continue
        conn.execute(
            "UPDATE devices SET clock_offset_s = ?, clock_drift = ?, max_seq = ?"
            " WHERE device_id = ? AND ? > coalesce(max_seq, -1)",
            (device.clock_offset_s, abs(device.clock_offset_s) > CLOCK_DRIFT_THRESHOLD_S,
             device.newest_seq, device.device_id, device.newest_seq),
        )  # fmt: skip


_LOAD_RULES = """
SELECT d.device_id, d.settings, d.temperature_considered_until, d.humidity_considered_until,
       r.state
FROM devices d LEFT JOIN rule_state r USING (device_id) WHERE d.device_id IN ({marks})
"""


def _load_rules(conn: sqlite3.Connection, device_ids: Sequence[str]) -> dict[str, DeviceRules]:
    """Settings, rule state and each metric's newest considered reading time (device row)."""
    rules = {}
    marks = ",".join("?" * len(device_ids))
    for row in conn.execute(_LOAD_RULES.format(marks=marks), list(device_ids)):
        device_id = row["device_id"]
        document = json.loads(row["state"]) if row["state"] is not None else {}
        device_rules = DeviceRules.from_document(
            settings_from_json(device_id, row["settings"]), document
        )
        device_rules.consider_until(
            {m: optional_time(row[f"{m}_considered_until"]) for m in METRICS}
        )
        rules[device_id] = device_rules
    return rules


def _marked_episodes(conn: sqlite3.Connection, events: Sequence[EventRow]) -> dict[str, set[int]]:
    """The episode ids marked "not a cry" now, of the devices with an ignored cry in
    ``events`` (one query per batch; none for most)."""
    ids = devices_citing_marks(events)
    marked: dict[str, set[int]] = {device_id: set() for device_id in ids}
    if ids:
        marks = ",".join("?" * len(ids))
        for row in conn.execute(
            f"SELECT device_id, episode_id FROM not_a_cry_marks WHERE device_id IN ({marks})",  # noqa: S608
            ids,
        ):
            marked[row["device_id"]].add(row["episode_id"])
    return marked


def _save_rules_and_alerts(
    conn: sqlite3.Connection,
    rules: dict[str, DeviceRules],
    loaded: dict[str, tuple[object, ...]],
    alerts: list[NewAlert],
) -> list[StoredAlert]:
    """Writes the state documents that changed since ``loaded`` (``state_keys``) and each
    device's newest considered reading times (cloud.alerting.DeviceRules.state_document)."""
    for device_id, device_rules in changed_states(rules, loaded).items():
        conn.execute(
            "INSERT INTO rule_state (device_id, state) VALUES (?, ?)"
            " ON CONFLICT (device_id) DO UPDATE SET state = excluded.state",
            (device_id, json.dumps(device_rules.state_document())),
        )
    for device_id, device_rules in rules.items():
        until = device_rules.considered_until()
        if until:
            conn.execute(
                "UPDATE devices SET"
                " temperature_considered_until = coalesce(?, temperature_considered_until),"
                " humidity_considered_until = coalesce(?, humidity_considered_until)"
                " WHERE device_id = ?",
                (_optional_db_time(until.get("temperature")),
                 _optional_db_time(until.get("humidity")), device_id),
            )  # fmt: skip
    return [
        insert_alert(
            conn, alert.device_id, None, alert.kind.value, alert.time, alert.message,
            alert.sick_detected, alert.details, alert.received_at, alert.escalate_after_s,
        )
        for alert in alerts
    ]  # fmt: skip


def _optional_db_time(value: datetime | None) -> str | None:
    return None if value is None else to_db_time(value)


def ingest(conn: sqlite3.Connection, batch: IngestBatch) -> IngestResult:
    with Transaction(conn):
        ids = batch.device_ids()
        marks = ",".join("?" * len(ids))
        devices = {
            row["device_id"]: row
            for row in conn.execute(
                "SELECT device_id, settings, online, status_at, reported_revision,"  # noqa: S608
                " reported_at, max_seq, last_seen, device_settings, status"
                f" FROM devices WHERE device_id IN ({marks})",
                ids,
            )
        }
        known, dead = split_known(batch, devices)
        conn.executemany(
            "INSERT INTO dead_letters"
            " (received_at, topic, payload, error, payload_size, payload_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(to_db_time(d.received_at), d.topic, d.payload, d.error, d.size, d.sha256)
             for d in map(capped, dead)],
        )  # fmt: skip
        new_readings = _insert_readings(conn, known.readings)
        new_events = _insert_events(conn, known.events)
        applied, changes, statuses = _apply_statuses(conn, known.statuses, devices)
        reported_applied = _apply_reported(conn, known.reported, devices)
        maintain_gaps(conn, devices, [*new_readings, *new_events], new_readings, changes)
        settle_offline_alarms(conn, [s.device_id for s in changes if s.online])
        _update_liveness(conn, known, [*new_readings, *new_events])
        touched = IngestBatch(new_readings, new_events, statuses).device_ids()
        alerts: list[StoredAlert] = []
        if touched:
            rules = _load_rules(conn, touched)
            loaded = state_keys(rules)
            for device_id in heal_future_times(rules, known.device_rows(), datetime.now(UTC)):
                logger.warning("rule state of %s held times in the future; set back", device_id)
            marked = _marked_episodes(conn, new_events)
            raised = evaluate_batch(rules, new_readings, new_events, changes, statuses, marked)
            alerts = _save_rules_and_alerts(conn, rules, loaded, raised)
    duplicates = len(known.readings) + len(known.events) - len(new_readings) - len(new_events)
    return IngestResult(
        len(new_readings), len(new_events), applied, len(dead), alerts, duplicates,
        reported_applied=reported_applied, latest_readings=latest_per_device(new_readings),
    )  # fmt: skip


def check_offline(conn: sqlite3.Connection, now: datetime) -> list[StoredAlert]:
    with Transaction(conn):
        rows = conn.execute(
            "SELECT d.device_id FROM devices d JOIN rule_state r USING (device_id)"
            " WHERE NOT d.online"
            " AND json_extract(r.state, '$.presence.offline_since') IS NOT NULL"
            " AND NOT coalesce(json_extract(r.state, '$.presence.alerted'), 0)"
        ).fetchall()
        if not rows:
            return []
        rules = _load_rules(conn, sorted(row["device_id"] for row in rows))
        loaded = state_keys(rules)
        return _save_rules_and_alerts(conn, rules, loaded, evaluate_presence(rules, now))
