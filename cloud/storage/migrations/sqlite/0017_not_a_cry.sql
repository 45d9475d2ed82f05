-- "Not a cry" (as migrations/postgres/0021): why the device did not alert on a cry episode
-- (JSON text, NULL for every other event), the marked episodes and the list's revision.
ALTER TABLE events ADD COLUMN ignored TEXT;

CREATE TABLE not_a_cry_marks (
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    episode_id INTEGER NOT NULL,
    marked_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    marked_at  TEXT NOT NULL,
    PRIMARY KEY (device_id, episode_id)
);

ALTER TABLE devices ADD COLUMN ignore_list_revision INTEGER NOT NULL DEFAULT 0;
