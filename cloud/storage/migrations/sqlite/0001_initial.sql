-- SQLite schema with the same semantics as the PostgreSQL one (migrations/postgres/0001).
-- Times are UTC text in one fixed format (YYYY-MM-DDTHH:MM:SS.ffffffZ), so text order is time
-- order.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    name          TEXT,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY,
    owner_id   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    name       TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX devices_owner ON devices (owner_id);

CREATE TABLE readings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    time           TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('device', 'upload')),
    device_id      TEXT REFERENCES devices (device_id) ON DELETE CASCADE,
    seq            INTEGER,
    user_id        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    temperature    REAL,
    humidity       REAL,
    sound_dbfs_avg REAL,
    sound_dbfs_max REAL,
    cry_detected   INTEGER NOT NULL DEFAULT 0,
    sick_detected  INTEGER NOT NULL DEFAULT 0,
    audio_url      TEXT,
    notes          TEXT,
    CHECK ((source = 'device' AND device_id IS NOT NULL AND seq IS NOT NULL)
        OR (source = 'upload' AND user_id IS NOT NULL))
);
CREATE UNIQUE INDEX readings_device_seq ON readings (device_id, seq, time);
CREATE INDEX readings_device_time ON readings (device_id, time DESC);
CREATE INDEX readings_user_time ON readings (user_id, time DESC) WHERE user_id IS NOT NULL;
