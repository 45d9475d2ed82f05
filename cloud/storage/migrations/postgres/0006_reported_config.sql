-- What each device last reported on config/reported: the revision of its desired config it
-- applied (accepted) or refused (with the error), the settings it runs with, and the device's
-- time of that report. The latest revision wins; the collector never lets an older one
-- replace a newer one.

ALTER TABLE devices
    ADD COLUMN reported_revision BIGINT,
    ADD COLUMN reported_accepted BOOLEAN,
    ADD COLUMN reported_settings JSONB,
    ADD COLUMN reported_error    TEXT,
    ADD COLUMN reported_at       TIMESTAMPTZ;
