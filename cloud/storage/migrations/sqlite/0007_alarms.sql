-- Alarms parents can trust (as migrations/postgres/0008).

ALTER TABLE alerts ADD COLUMN received_at TEXT;
ALTER TABLE alerts ADD COLUMN needs_ack INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN escalate_after_s REAL;
ALTER TABLE alerts ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN next_escalation_at TEXT;
ALTER TABLE alerts ADD COLUMN acknowledged_at TEXT;
ALTER TABLE alerts ADD COLUMN acknowledged_by INTEGER REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX alerts_escalation_due ON alerts (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;

CREATE TABLE alert_deliveries (
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level    INTEGER NOT NULL,
    sent_at  TEXT NOT NULL,
    PRIMARY KEY (alert_id, user_id, level)
);

CREATE TABLE alert_transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    time       TEXT NOT NULL,
    transition TEXT NOT NULL CHECK (transition IN ('raised', 'escalated', 'acknowledged')),
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    level      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, time);

CREATE TABLE gaps (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    start_time TEXT NOT NULL,
    end_time   TEXT,
    reason     TEXT NOT NULL CHECK (reason IN ('offline', 'missing_messages')),
    first_seq  INTEGER,
    last_seq   INTEGER,
    opened_at  TEXT NOT NULL,
    closed_at  TEXT
);
CREATE INDEX gaps_device_time ON gaps (device_id, start_time DESC);
CREATE INDEX gaps_open ON gaps (device_id) WHERE closed_at IS NULL;
