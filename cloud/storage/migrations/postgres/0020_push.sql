-- Web Push (issue 32): the browsers (and later native apps) a user asked to be woken on, and
-- every push request the API made for an alert.

-- An endpoint belongs to one browser profile: the last account that registered it there owns
-- it (registering it again moves it and replaces its keys).
CREATE TABLE push_subscriptions (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL DEFAULT 'webpush',
    endpoint        TEXT NOT NULL UNIQUE,
    p256dh          TEXT NOT NULL,
    auth            TEXT NOT NULL,
    label           TEXT CHECK (char_length(label) <= 100),
    user_agent      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_success_at TIMESTAMPTZ,
    last_failure_at TIMESTAMPTZ,
    failures        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id, updated_at);

-- One row per (alert, escalation level, purpose, subscription): the API process whose INSERT
-- created it owns the send, so several API processes push each notification once.
-- next_attempt_at is when a 'retrying' row is due, and the lease of a 'sending' one: a row
-- still 'sending' after it belonged to a process that died mid-send.
CREATE TABLE push_deliveries (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id         BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    purpose          TEXT NOT NULL CHECK (purpose IN ('alert', 'acknowledged')),
    subscription_id  BIGINT REFERENCES push_subscriptions (id) ON DELETE SET NULL,
    user_id          BIGINT REFERENCES users (id) ON DELETE SET NULL,
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                         ('sending', 'retrying', 'accepted', 'failed', 'expired', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ,
    accepted_at      TIMESTAMPTZ,
    acknowledged_at  TIMESTAMPTZ,
    last_status      INTEGER,
    error            TEXT,
    UNIQUE (alert_id, escalation_level, purpose, subscription_id)
);
CREATE INDEX push_deliveries_due ON push_deliveries (next_attempt_at)
    WHERE status IN ('sending', 'retrying');
CREATE INDEX push_deliveries_subscription ON push_deliveries (subscription_id);
