-- Alerts of app uploads: they belong to the uploading user and have no device. Device alerts
-- keep user_id NULL (whoever owns the device is told); every alert names one or the other.
ALTER TABLE alerts
    ALTER COLUMN device_id DROP NOT NULL,
    ADD COLUMN user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    ADD CONSTRAINT alerts_device_or_user CHECK (device_id IS NOT NULL OR user_id IS NOT NULL);
CREATE INDEX alerts_user_time ON alerts (user_id, time DESC) WHERE user_id IS NOT NULL;

-- Cry episodes per device and time, for the parents' stats and time series (the events table
-- also holds every cry_ended).
CREATE INDEX events_cry_started ON events (device_id, time DESC) WHERE kind = 'cry_started';
