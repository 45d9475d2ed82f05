-- The highest revision of a device's "not a cry" list handed to the broker (as
-- migrations/postgres/0022): a list above it is sent by the API's background sync. 0 for the
-- devices there are, so each list with a revision is sent once more after the upgrade.
ALTER TABLE devices ADD COLUMN ignore_list_published_revision INTEGER NOT NULL DEFAULT 0;

CREATE INDEX devices_ignore_list_unpublished ON devices (device_id)
    WHERE ignore_list_revision > ignore_list_published_revision;
