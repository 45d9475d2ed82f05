-- The climate rules' newest considered reading time per metric, kept in the device row, which
-- every batch updates anyway (liveness), instead of in the rule-state document: that document
-- is now written only when a rule's state really changes, not for every device in every batch.
-- No backfill: documents written before still hold their own time, and loading takes the later
-- of the two (cloud.alerting.DeviceRules.consider_until).
ALTER TABLE devices
    ADD COLUMN temperature_considered_until TIMESTAMPTZ,
    ADD COLUMN humidity_considered_until TIMESTAMPTZ;
