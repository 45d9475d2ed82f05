"""Against every backend: a rule state poisoned by an earlier version heals, and dead letters
are capped and expire (issue 27, findings 3 and 11)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from cloud.storage import Storage
from cloud.storage.dead_letter_plan import MAX_STORED_PAYLOAD_BYTES
from cloud.storage.records import DeadLetter, IngestBatch, TelemetryRow

FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def hot(device_id: str, seq: int, time: datetime, received_at: datetime) -> TelemetryRow:
    return TelemetryRow(device_id, seq, time, received_at, 30.0, 45.0, None, None, raw=b"{}")


async def test_a_rule_state_poisoned_by_a_reading_from_9999_heals(storage: Storage) -> None:
    """An earlier collector stored a reading dated 9999-12-31 (storage itself does not check
    device times): the climate rules then skipped every later reading of the device. The
    next batch sets the state back, and a hot spell alerts again."""
    device_id = f"heal-{uuid.uuid4().hex[:8]}"
    await storage.register_device(device_id, None)
    now = datetime.now(UTC)
    await storage.ingest(IngestBatch(readings=[hot(device_id, 1, FAR_FUTURE, now)]))
    spell = [hot(device_id, 10 + i, now - timedelta(seconds=600 - 30 * i), now) for i in range(21)]
    result = await storage.ingest(IngestBatch(readings=spell))
    assert result.readings_stored == len(spell)
    assert [alert.kind for alert in result.alerts] == ["CLIMATE_OUT_OF_RANGE"]


async def test_a_device_clock_a_little_fast_keeps_its_rule_state(storage: Storage) -> None:
    """Healing is not a reset for a clock within the window: the spell's start stays."""
    device_id = f"fast-{uuid.uuid4().hex[:8]}"
    await storage.register_device(device_id, None)
    now = datetime.now(UTC)
    fast = timedelta(minutes=4)
    first = [hot(device_id, i, now - timedelta(seconds=200 - 30 * i) + fast, now) for i in range(5)]
    assert (await storage.ingest(IngestBatch(readings=first))).alerts == []
    later = now + timedelta(seconds=150)
    second = [hot(device_id, 5, later + fast, later)]
    result = await storage.ingest(IngestBatch(readings=second))
    assert [alert.kind for alert in result.alerts] == ["CLIMATE_OUT_OF_RANGE"]


async def test_dead_letters_are_capped_with_size_and_digest(storage: Storage) -> None:
    raw = b"x" * (5 * 1024 * 1024)
    topic = f"nursery/v1/cap-{uuid.uuid4().hex[:8]}/telemetry"
    letter = DeadLetter(topic, raw, "payload too big", datetime.now(UTC))
    await storage.ingest(IngestBatch(dead_letters=[letter]))
    (stored,) = [d for d in await storage.list_dead_letters(limit=20) if d.topic == topic]
    assert stored.payload == raw[:MAX_STORED_PAYLOAD_BYTES]
    assert (stored.size, stored.sha256) == (len(raw), hashlib.sha256(raw).hexdigest())


async def test_dead_letter_retention_by_age_and_count(storage: Storage) -> None:
    """Retention deletes across the whole table: this test's letters are the newest ones."""
    now = datetime.now(UTC)
    prefix = f"retention-{uuid.uuid4().hex[:8]}/"
    letters = [
        DeadLetter(f"{prefix}{i}", b"{", "not JSON", now - timedelta(days=40 - i))
        for i in range(5)  # 40 to 36 days old
    ] + [DeadLetter(f"{prefix}{i}", b"{", "not JSON", now) for i in range(5, 10)]
    await storage.ingest(IngestBatch(dead_letters=letters))

    async def ours() -> list[str]:
        return [
            d.topic.removeprefix(prefix)
            for d in await storage.list_dead_letters(limit=1000)
            if d.topic.startswith(prefix)
        ]

    deleted = await storage.prune_dead_letters(now - timedelta(days=30), keep_rows=1_000_000)
    assert deleted >= 5
    assert await ours() == ["9", "8", "7", "6", "5"]
    await storage.prune_dead_letters(now - timedelta(days=30), keep_rows=3)
    assert await ours() == ["9", "8", "7"]
    assert len(await storage.list_dead_letters(limit=1000)) == 3
    assert await storage.prune_dead_letters(now - timedelta(days=30), keep_rows=3) == 0
