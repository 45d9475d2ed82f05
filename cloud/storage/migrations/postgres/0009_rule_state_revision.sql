-- A revision per stored rule state, so a collector can reuse the state it committed itself
-- while no other collector changed it (cloud/storage/rule_cache.py). From a sequence: a
-- revision is never reused, not even when a device is deleted and registered again.
CREATE SEQUENCE rule_state_revision;
ALTER TABLE rule_state ADD COLUMN revision BIGINT NOT NULL DEFAULT nextval('rule_state_revision');
