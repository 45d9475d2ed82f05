-- Claim periods (issue 27): a device's data belongs to the claim period it was recorded in.
--
-- devices.history_from was the time of the last unclaim, and a new owner saw everything the
-- device received after it - including what it recorded while nobody held it. It is now the
-- start of the device's current claim period (cloud/storage/claim_plan.py): the claim time, or
-- the last release if later; NULL for a device held by the family it was registered to since
-- it was created. Reads keep what was recorded (device time) and received (server time) from
-- then on; the time bound uses the existing (device_id, time) indexes.
--
-- Existing devices: one claimed after it was created (with a code, or handed to a new owner by
-- the operator) has its period start at that claim; one registered with its owner keeps NULL.
UPDATE devices SET history_from = GREATEST(history_from, claimed_at)
WHERE claimed_at IS NOT NULL AND claimed_at > created_at;
