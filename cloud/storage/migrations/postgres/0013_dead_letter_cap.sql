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
