"""The periodic offline check and the alert feed (LISTEN) for PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from cloud.alerting import changed_states, evaluate_presence, state_keys
from cloud.storage.live_readings import READING_CHANNEL, reading_from_json
from cloud.storage.postgres.alarms import ALERT_CHANNEL, alert_from_json
from cloud.storage.postgres.ingest import load_rules, save_rules_and_alerts
from cloud.storage.records import StoredAlert, TelemetryRow
from cloud.storage.rule_cache import RuleStateCache

_OFFLINE_CANDIDATES = """
SELECT d.device_id, d.settings::text AS settings_json,
       d.temperature_considered_until, d.humidity_considered_until
FROM devices d JOIN rule_state r USING (device_id)
WHERE NOT d.online
  AND r.state -> 'presence' ->> 'offline_since' IS NOT NULL
  AND NOT coalesce((r.state -> 'presence' ->> 'alerted')::boolean, false)
ORDER BY d.device_id
FOR UPDATE OF d SKIP LOCKED
"""


async def check_offline(
    conn: AsyncConnection[Any], now: datetime, cache: RuleStateCache
) -> list[StoredAlert]:
    """Alert for devices offline past their grace period. SKIP LOCKED lets several collectors
    run this concurrently without alerting twice."""
    async with conn.transaction():
        cursor = await conn.execute(_OFFLINE_CANDIDATES)
        devices = {row["device_id"]: row for row in await cursor.fetchall()}
        if not devices:
            return []
        rules = await load_rules(conn, sorted(devices), devices, cache)
        loaded = state_keys(rules)
        raised = evaluate_presence(rules, now)
        alerts, committed = await save_rules_and_alerts(conn, changed_states(rules, loaded), raised)
    cache.record(committed)
    return alerts


async def listen_alerts(database_url: str) -> AsyncIterator[StoredAlert]:
    """Alerts as they are committed, from any collector, for as long as the caller iterates."""
    conn = await AsyncConnection.connect(database_url, autocommit=True)
    async with conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(ALERT_CHANNEL)))
        async for notify in conn.notifies():
            yield alert_from_json(notify.payload)


async def listen_readings(database_url: str) -> AsyncIterator[TelemetryRow]:
    """The newest reading of each device per committed batch, for as long as the caller
    iterates."""
    conn = await AsyncConnection.connect(database_url, autocommit=True)
    async with conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(READING_CHANNEL)))
        async for notify in conn.notifies():
            yield reading_from_json(notify.payload)
