"""The device's durable outbox: every stream message is on disk before it is published.

A message gets its sequence number and is written in one SQLite transaction (WAL,
``synchronous=FULL``), so a number is never handed out twice and nothing that was created is lost
across broker outages, reboots, ``kill -9`` or a power cut. A message leaves the outbox only when
the broker has acknowledged it (QoS 1 PUBACK). Readers on the cloud side deduplicate by
``(device_id, seq)``, so the occasional resend after a crash is harmless.

The outbox is bounded: a device that is offline for weeks must not fill its SD card. When full it
drops the oldest *telemetry* first - a room reading from last Tuesday is worth less than the
disk - but never an event: a cry is what the parents pay attention to.

The same file remembers the cry episode that is open (started, not yet ended), written in the
transaction that stores its start or end, plus when the device was last alive during it. A power
cut in the middle of a cry leaves that row behind, and the next start closes the episode
(``EdgeAgent``) instead of leaving it open forever in the parents' history.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar

from models.contract import Envelope, Event, MessageKind, kind_of

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('next_seq', 0), ('dropped_telemetry', 0);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_kind ON messages (kind, seq);
CREATE TABLE IF NOT EXISTS open_episode (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    episode_id INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    alive_at TEXT NOT NULL,
    confidence REAL NOT NULL,
    sound_dbfs REAL
);
"""
EpisodeChange = Literal["open", "close"]

PayloadT = TypeVar("PayloadT", bound=Envelope)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    seq: int
    kind: MessageKind
    payload: bytes


@dataclass(frozen=True, slots=True)
class OpenEpisode:
    """A cry episode whose start was stored and whose end was not (yet)."""

    episode_id: int
    started_at: datetime
    alive_at: datetime  # the last time the device noted it was alive during the episode
    confidence: float
    sound_dbfs: float | None


class Outbox:
    """A bounded, ordered, crash-safe queue of serialised stream messages.

    Thread-safe: producers (the detector, the telemetry timer) append while the MQTT thread reads
    and acknowledges.
    """

    def __init__(self, path: Path, max_messages: int = 100_000) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._max_messages = max_messages
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on stable storage before append() returns - a power cut right after
        # publishing cannot roll the sequence counter back and hand the same number out again.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._depth = self._count()

    def append(
        self, build: Callable[[int], PayloadT], *, episode: EpisodeChange | None = None
    ) -> PayloadT:
        """Take the next sequence number, build the payload with it and store both atomically.

        ``episode="open"`` also remembers the event as the open cry episode, ``"close"`` forgets
        it, in the same transaction: the journal never disagrees with what was sent.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = self._take_seq()
                payload = build(seq)
                if payload.seq != seq:
                    raise ValueError(f"payload carries seq {payload.seq}, expected {seq}")
                kind = kind_of(payload)
                self._db.execute(
                    "INSERT INTO messages (seq, kind, payload) VALUES (?, ?, ?)",
                    (seq, kind.value, payload.to_json()),
                )
                if episode is not None:
                    self._journal(episode, payload)
                dropped = self._enforce_bound(self._depth + 1)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth += 1 - dropped
        if dropped:
            logger.warning(
                "outbox full (%d messages): dropped %d oldest telemetry",
                self._max_messages,
                dropped,
            )
        return payload

    def pending(self, after_seq: int, limit: int) -> list[OutboxMessage]:
        """Unacknowledged messages with ``seq > after_seq``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [OutboxMessage(int(seq), MessageKind(kind), bytes(raw)) for seq, kind, raw in rows]

    def acknowledge(self, seq: int) -> None:
        """The broker has the message: forget it (a second ack for the same seq is harmless)."""
        with self._lock:
            deleted = self._db.execute("DELETE FROM messages WHERE seq = ?", (seq,)).rowcount
            self._depth -= deleted

    def contains(self, seq: int) -> bool:
        """Whether the message is still waiting for the broker's acknowledgement."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM messages WHERE seq = ?", (seq,)).fetchone()
        return row is not None

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def max_messages(self) -> int:
        return self._max_messages

    def dropped_telemetry(self) -> int:
        with self._lock:
            return self._counter("dropped_telemetry")

    def last_assigned_seq(self) -> int:
        """The highest sequence number handed out so far (-1 before the first message)."""
        with self._lock:
            return self._counter("next_seq") - 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def open_episode(self) -> OpenEpisode | None:
        """The cry episode started and not ended, if any (after a power cut: the cut one)."""
        with self._lock:
            row = self._db.execute(
                "SELECT episode_id, started_at, alive_at, confidence, sound_dbfs FROM open_episode"
            ).fetchone()
        if row is None:
            return None
        episode_id, started_at, alive_at, confidence, sound_dbfs = row
        return OpenEpisode(
            int(episode_id),
            datetime.fromisoformat(started_at),
            datetime.fromisoformat(alive_at),
            float(confidence),
            None if sound_dbfs is None else float(sound_dbfs),
        )

    def note_alive(self, at: datetime) -> None:
        """Record that the device was alive at ``at`` during the open episode (if one is open):
        where a power cut's episode is closed on the next start."""
        with self._lock:
            self._db.execute(
                "UPDATE open_episode SET alive_at = ? WHERE alive_at < ?", (_iso(at), _iso(at))
            )

    def _journal(self, change: EpisodeChange, payload: Envelope) -> None:
        if change == "close":
            self._db.execute("DELETE FROM open_episode")
            return
        if not isinstance(payload, Event):
            raise TypeError(f"only an event opens an episode, not {type(payload).__name__}")
        self._db.execute(
            "INSERT OR REPLACE INTO open_episode"
            " (only_row, episode_id, started_at, alive_at, confidence, sound_dbfs)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            (
                payload.episode_id,
                _iso(payload.ts),
                _iso(payload.ts),  # alive at the onset; ``note_alive`` moves it on
                payload.confidence,
                payload.sound_dbfs,
            ),
        )

    def _take_seq(self) -> int:
        row = self._db.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'next_seq' RETURNING value - 1"
        ).fetchone()
        return int(row[0])

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def _count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def _enforce_bound(self, depth: int) -> int:
        excess = depth - self._max_messages
        if excess <= 0:
            return 0
        dropped = self._db.execute(
            "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE kind = ?"
            " ORDER BY seq LIMIT ?)",
            (MessageKind.TELEMETRY.value, excess),
        ).rowcount
        if dropped:
            self._db.execute(
                "UPDATE counters SET value = value + ? WHERE name = 'dropped_telemetry'",
                (dropped,),
            )
        if dropped < excess:
            # Only events left: they are kept beyond the bound (a few hundred bytes each, and
            # rare), because losing a cry is worse than a slightly larger file.
            logger.error("outbox holds %d messages, all events; keeping them", depth - dropped)
        return int(dropped)


def _iso(at: datetime) -> str:
    """One fixed format in UTC, so the stored times also compare correctly as text."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")
