-- Devices claimed with a code and shared with caregivers; per-user alert read marks; refresh
-- token rotation (as migrations/postgres/0005).

ALTER TABLE devices ADD COLUMN claim_code_hash TEXT;
ALTER TABLE devices ADD COLUMN claim_expires_at TEXT;
ALTER TABLE devices ADD COLUMN claimed_at TEXT;
ALTER TABLE devices ADD COLUMN device_settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE devices ADD COLUMN device_settings_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN history_from TEXT;
CREATE UNIQUE INDEX devices_claim_code ON devices (claim_code_hash)
    WHERE claim_code_hash IS NOT NULL;
UPDATE devices SET claimed_at = created_at WHERE owner_id IS NOT NULL;

CREATE TABLE device_members (
    device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('owner', 'caregiver')),
    added_at  TEXT NOT NULL,
    PRIMARY KEY (device_id, user_id)
);
CREATE INDEX device_members_user ON device_members (user_id);
CREATE UNIQUE INDEX device_members_one_owner ON device_members (device_id) WHERE role = 'owner';
INSERT INTO device_members (device_id, user_id, role, added_at)
SELECT device_id, owner_id, 'owner', created_at FROM devices WHERE owner_id IS NOT NULL;

CREATE TABLE alert_reads (
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_at  TEXT NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_reads_user ON alert_reads (user_id);

CREATE INDEX events_cry_ended ON events (device_id, episode_id) WHERE kind = 'cry_ended';

CREATE TABLE refresh_tokens (
    token_id   TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT NOT NULL,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
