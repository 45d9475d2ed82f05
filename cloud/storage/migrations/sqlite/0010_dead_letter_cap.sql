-- Dead letters are capped and expire (as migrations/postgres/0013). SQLite has no SHA-256
-- function, so rows from before keep no digest; their size is recorded before the cap.
ALTER TABLE dead_letters ADD COLUMN payload_size INTEGER;
ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;

UPDATE dead_letters SET payload_size = length(payload);
UPDATE dead_letters SET payload = substr(payload, 1, 16384) WHERE length(payload) > 16384;

CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at);

-- Device readings and events dated more than a day ahead, stored before the collector checked
-- device times, become dead letters (as migrations/postgres/0013; no digest here either).
INSERT INTO dead_letters (received_at, topic, payload, error, payload_size)
SELECT received_at, 'nursery/v1/' || device_id || '/telemetry', CAST(json_object(
           'device_id', device_id, 'seq', seq, 'ts', time, 'temperature_c', temperature,
           'humidity_pct', humidity, 'sound_dbfs_avg', sound_dbfs_avg,
           'sound_dbfs_max', sound_dbfs_max) AS BLOB),
       'ts in the future; stored before device times were checked, moved here by migration'
       || ' 0010 (the row as stored, not the original payload)',
       NULL
FROM readings
WHERE source = 'device' AND time > strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 day');
DELETE FROM readings
WHERE source = 'device' AND time > strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 day');

INSERT INTO dead_letters (received_at, topic, payload, error, payload_size)
SELECT received_at, 'nursery/v1/' || device_id || '/event', CAST(json_object(
           'device_id', device_id, 'seq', seq, 'ts', time, 'kind', kind,
           'episode_id', episode_id, 'confidence', confidence, 'sound_dbfs', sound_dbfs,
           'duration_s', duration_s) AS BLOB),
       'ts in the future; stored before device times were checked, moved here by migration'
       || ' 0010 (the row as stored, not the original payload)',
       NULL
FROM events WHERE time > strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 day');
DELETE FROM events WHERE time > strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 day');
UPDATE dead_letters SET payload_size = length(payload) WHERE payload_size IS NULL;

UPDATE devices SET temperature_considered_until = NULL
WHERE temperature_considered_until > strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 day');
UPDATE devices SET humidity_considered_until = NULL
WHERE humidity_considered_until > strftime('%Y-%m-%dT%H:%M:%S', 'now', '+1 day');
