-- Dead letters are capped and expire (as migrations/postgres/0013). SQLite has no SHA-256
-- function, so rows from before keep no digest; their size is recorded before the cap.
ALTER TABLE dead_letters ADD COLUMN payload_size INTEGER;
ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;

UPDATE dead_letters SET payload_size = length(payload);
UPDATE dead_letters SET payload = substr(payload, 1, 16384) WHERE length(payload) > 16384;

CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at);
