-- Alerts of app uploads (as migrations/postgres/0004): device_id becomes optional and user_id is
-- added, with a check that an alert names one or the other. SQLite cannot alter a column or add
-- a check, so the table is rebuilt; nothing references it.

CREATE TABLE alerts_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id     TEXT REFERENCES devices (device_id) ON DELETE CASCADE,
    user_id       INTEGER REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    time          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    message       TEXT NOT NULL,
    sick_detected INTEGER NOT NULL DEFAULT 0,
    details       TEXT NOT NULL DEFAULT '{}',
    CHECK (device_id IS NOT NULL OR user_id IS NOT NULL)
);
INSERT INTO alerts_new (id, device_id, kind, time, created_at, message, sick_detected, details)
SELECT id, device_id, kind, time, created_at, message, sick_detected, details FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE INDEX alerts_device_time ON alerts (device_id, time DESC);
CREATE INDEX alerts_user_time ON alerts (user_id, time DESC) WHERE user_id IS NOT NULL;

CREATE INDEX events_cry_started ON events (device_id, time DESC) WHERE kind = 'cry_started';
