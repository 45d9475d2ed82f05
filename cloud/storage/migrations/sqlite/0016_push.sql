-- Web Push (as migrations/postgres/0020).

CREATE TABLE push_subscriptions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL DEFAULT 'webpush',
    endpoint        TEXT NOT NULL UNIQUE,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    label           TEXT CHECK (length(label) <= 100),
    user_agent      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_success_at TEXT,
    last_failure_at TEXT,
    failures        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, updated_at);

CREATE TABLE push_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id         INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    purpose          TEXT NOT NULL CHECK (purpose IN ('alert', 'acknowledged')),
    subscription_id  INTEGER REFERENCES push_subscriptions (id) ON DELETE SET NULL,
    user_id          INTEGER REFERENCES users (id) ON DELETE SET NULL,
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                         ('sending', 'retrying', 'accepted', 'failed', 'expired', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    created_at       TEXT NOT NULL,
    sent_at          TEXT,
    accepted_at      TEXT,
    acknowledged_at  TEXT,
    last_status      INTEGER,
    error            TEXT,
    UNIQUE (alert_id, escalation_level, purpose, subscription_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries (next_attempt_at)
    WHERE status IN ('sending', 'retrying');
CREATE INDEX push_deliveries_subscription ON push_deliveries (subscription_id);
