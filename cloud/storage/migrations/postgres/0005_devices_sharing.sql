-- Devices claimed with a code and shared with caregivers; per-user alert read marks; refresh
-- token rotation. devices.settings keeps holding the nursery (alert rule) settings.

ALTER TABLE devices
    ADD COLUMN claim_code_hash          TEXT,
    ADD COLUMN claim_expires_at         TIMESTAMPTZ,
    ADD COLUMN claimed_at               TIMESTAMPTZ,
    -- what the device is told to run with (models.contract.DeviceSettings keys); every change
    -- raises the revision, which the device is sent with them.
    ADD COLUMN device_settings          JSONB NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN device_settings_revision BIGINT NOT NULL DEFAULT 0,
    -- set when the device is unclaimed: what was received before it is shown to nobody.
    ADD COLUMN history_from             TIMESTAMPTZ;
-- A code alone finds its device, so two devices can never wait for the same one.
CREATE UNIQUE INDEX devices_claim_code ON devices (claim_code_hash)
    WHERE claim_code_hash IS NOT NULL;
UPDATE devices SET claimed_at = created_at WHERE owner_id IS NOT NULL;

-- Who can see a device: its owner (mirrors devices.owner_id) and the caregivers they added.
CREATE TABLE device_members (
    device_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role      TEXT NOT NULL CHECK (role IN ('owner', 'caregiver')),
    added_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, user_id)
);
CREATE INDEX device_members_user ON device_members (user_id);
CREATE UNIQUE INDEX device_members_one_owner ON device_members (device_id) WHERE role = 'owner';
INSERT INTO device_members (device_id, user_id, role, added_at)
SELECT device_id, owner_id, 'owner', created_at FROM devices WHERE owner_id IS NOT NULL;

-- Read marks are per user: one caregiver reading an alert does not read it for another.
CREATE TABLE alert_reads (
    alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    read_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_reads_user ON alert_reads (user_id);

-- Pairs a cry episode's start with its end (list_cry_episodes).
CREATE INDEX events_cry_ended ON events (device_id, episode_id) WHERE kind = 'cry_ended';

-- Refresh tokens by id (never the token itself); a family is one sign-in's chain of rotations.
CREATE TABLE refresh_tokens (
    token_id   TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
