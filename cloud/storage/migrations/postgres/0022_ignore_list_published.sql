-- The "not a cry" list's delivery (issue 31): the highest revision of a device's list that an
-- API process has handed to the broker (retained on `ignore/desired`). A device whose
-- `ignore_list_revision` is above it has a list the broker does not hold yet - written while the
-- broker was away, by the operator's `device register --owner` (which publishes nothing), or
-- by an API process that stopped between its commit and its publish - and the API's
-- background sync sends it (cloud/api/ignore_list_sync.py). Only ever raised.
--
-- 0 for the devices there are: each list with a revision is sent once more after this
-- upgrade, which heals any that went stale before (a duplicate is harmless: the device
-- applies only a newer revision).
ALTER TABLE devices ADD COLUMN ignore_list_published_revision BIGINT NOT NULL DEFAULT 0;

-- The sync asks every few seconds which lists are unsent: only those rows are in this index,
-- so the question costs nothing however many devices there are.
CREATE INDEX devices_ignore_list_unpublished ON devices (device_id)
    WHERE ignore_list_revision > ignore_list_published_revision;
