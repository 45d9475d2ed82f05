-- Claim periods (issue 27), as migrations/postgres/0012: devices.history_from is now the start
-- of the device's current claim period (cloud/storage/claim_plan.py), NULL for a device held by
-- the family it was registered to since it was created.
UPDATE devices SET history_from = max(coalesce(history_from, claimed_at), claimed_at)
WHERE claimed_at IS NOT NULL AND claimed_at > created_at;
