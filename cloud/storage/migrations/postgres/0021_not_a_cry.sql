-- "Not a cry" (issue 31): caregivers mark a cry episode of their device "not a cry"; the device
-- ignores later episodes that sound like it. The cloud keeps the marks and the list's revision
-- (the device keeps the sound fingerprints, never the cloud).

-- Why the device did not alert on a cry episode: the contract's optional `ignored` of an
-- event ({"like_episode_id", "marked_at", "similarity"}), NULL for every other event. As 0019:
-- a nullable column without a default or constraint, which TimescaleDB (2.1 and later) adds to
-- a compressed hypertable as it is, and PostgreSQL adds without rewriting the table.
ALTER TABLE events ADD COLUMN ignored JSONB;

-- The episodes marked, at most MAX_IGNORE_MARKS per device (the storage drops older ones): the
-- list the device is sent (`ignore/desired`). Emptied when the device changes hands.
CREATE TABLE not_a_cry_marks (
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    episode_id BIGINT NOT NULL,
    marked_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    marked_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (device_id, episode_id)
);

-- The list's revision (the `seq` of `ignore/desired`): raised by every change, never lowered,
-- so the device applies only a newer list.
ALTER TABLE devices ADD COLUMN ignore_list_revision BIGINT NOT NULL DEFAULT 0;
