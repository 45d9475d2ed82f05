-- Alarms parents can trust (issue 10): delivery times, acknowledge-or-escalate, visible gaps.

ALTER TABLE alerts
    -- when the message that raised the alert reached the server (device time is `time`,
    -- commit time is `created_at`)
    ADD COLUMN received_at        TIMESTAMPTZ,
    -- alarms stay open until acknowledged and are escalated every `escalate_after_s` meanwhile
    ADD COLUMN needs_ack          BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN escalate_after_s   DOUBLE PRECISION,
    ADD COLUMN escalation_level   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN next_escalation_at TIMESTAMPTZ,
    ADD COLUMN acknowledged_at    TIMESTAMPTZ,
    ADD COLUMN acknowledged_by    BIGINT REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX alerts_escalation_due ON alerts (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;

-- The first time an alert was written to each user's socket, per escalation level.
CREATE TABLE alert_deliveries (
    alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level    INTEGER NOT NULL,
    sent_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, user_id, level)
);

-- Every step of an alarm's life, for the record and for the delivery statistics.
CREATE TABLE alert_transitions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    time       TIMESTAMPTZ NOT NULL,
    transition TEXT NOT NULL CHECK (transition IN ('raised', 'escalated', 'acknowledged')),
    user_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    level      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, time);

-- Stretches without data from a device: offline (last will until back online) or missing
-- sequence numbers. Closed when the outbox replay filled them.
CREATE TABLE gaps (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    start_time TIMESTAMPTZ NOT NULL,
    end_time   TIMESTAMPTZ,
    reason     TEXT NOT NULL CHECK (reason IN ('offline', 'missing_messages')),
    first_seq  BIGINT,
    last_seq   BIGINT,
    opened_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at  TIMESTAMPTZ
);
CREATE INDEX gaps_device_time ON gaps (device_id, start_time DESC);
CREATE INDEX gaps_open ON gaps (device_id) WHERE closed_at IS NULL;
