-- Events, dead letters, presence, alerts and rule state (as migrations/postgres/0002).

ALTER TABLE devices ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE devices ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN last_seen TEXT;
ALTER TABLE devices ADD COLUMN status_at TEXT;
ALTER TABLE devices ADD COLUMN firmware_version TEXT;
ALTER TABLE devices ADD COLUMN model_version TEXT;
ALTER TABLE devices ADD COLUMN status TEXT NOT NULL DEFAULT '{}';
ALTER TABLE devices ADD COLUMN max_seq INTEGER;
ALTER TABLE devices ADD COLUMN clock_offset_s REAL;
ALTER TABLE devices ADD COLUMN clock_drift INTEGER NOT NULL DEFAULT 0;

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    device_id   TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    episode_id  INTEGER NOT NULL,
    confidence  REAL NOT NULL,
    sound_dbfs  REAL,
    duration_s  REAL
);
CREATE UNIQUE INDEX events_device_seq ON events (device_id, seq, time);
CREATE INDEX events_device_time ON events (device_id, time DESC);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic       TEXT NOT NULL,
    payload     BLOB NOT NULL,
    error       TEXT NOT NULL
);

CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    time          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    message       TEXT NOT NULL,
    sick_detected INTEGER NOT NULL DEFAULT 0,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alerts_device_time ON alerts (device_id, time DESC);

CREATE TABLE rule_state (
    device_id TEXT PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    state     TEXT NOT NULL
);
