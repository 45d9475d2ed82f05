-- Dead letters are capped and expire (cloud.storage.dead_letter_plan): a payload is kept whole
-- up to 16 KiB (the largest the contract accepts), of a larger one the first 16 KiB, with the
-- size and SHA-256 of the whole. A 20 MB device payload used to be stored whole, and nothing
-- ever deleted a dead letter; the collector now deletes them by age and count.
ALTER TABLE dead_letters
    ADD COLUMN payload_size BIGINT,
    ADD COLUMN payload_sha256 TEXT;

-- Existing rows: recorded first, then capped, so the digest is that of the whole payload.
UPDATE dead_letters
SET payload_size = length(payload), payload_sha256 = encode(sha256(payload), 'hex');
UPDATE dead_letters SET payload = substring(payload FROM 1 FOR 16384)
WHERE length(payload) > 16384;

ALTER TABLE dead_letters ALTER COLUMN payload_size SET NOT NULL;

-- Device readings and events dated more than a day ahead (the most the collector's time
-- window can be set to) were stored before the collector checked device times: one dated
-- 9999-12-31 showed as the newest record in /health/stats for ever. They become dead letters:
-- the row as it was stored (the original payload was not kept), with the reason.
WITH moved AS (
    DELETE FROM readings WHERE source = 'device' AND time > now() + interval '1 day'
    RETURNING received_at, device_id, convert_to(json_build_object(
        'device_id', device_id, 'seq', seq, 'ts', time, 'temperature_c', temperature,
        'humidity_pct', humidity, 'sound_dbfs_avg', sound_dbfs_avg,
        'sound_dbfs_max', sound_dbfs_max)::text, 'UTF8') AS payload
)
INSERT INTO dead_letters (received_at, topic, payload, error, payload_size, payload_sha256)
SELECT received_at, 'nursery/v1/' || device_id || '/telemetry', payload,
       'ts in the future; stored before device times were checked, moved here by migration'
       || ' 0013 (the row as stored, not the original payload)',
       length(payload), encode(sha256(payload), 'hex')
FROM moved;

WITH moved AS (
    DELETE FROM events WHERE time > now() + interval '1 day'
    RETURNING received_at, device_id, convert_to(json_build_object(
        'device_id', device_id, 'seq', seq, 'ts', time, 'kind', kind, 'episode_id', episode_id,
        'confidence', confidence, 'sound_dbfs', sound_dbfs, 'duration_s', duration_s)::text,
        'UTF8') AS payload
)
INSERT INTO dead_letters (received_at, topic, payload, error, payload_size, payload_sha256)
SELECT received_at, 'nursery/v1/' || device_id || '/event', payload,
       'ts in the future; stored before device times were checked, moved here by migration'
       || ' 0013 (the row as stored, not the original payload)',
       length(payload), encode(sha256(payload), 'hex')
FROM moved;

-- The climate rules' newest considered reading time of such a device (cloud.storage.rule_heal
-- also sets it back at run time, together with the times in the rule-state document).
UPDATE devices SET temperature_considered_until = NULL
WHERE temperature_considered_until > now() + interval '1 day';
UPDATE devices SET humidity_considered_until = NULL
WHERE humidity_considered_until > now() + interval '1 day';
