-- The climate rules' newest considered reading time per metric (as migrations/postgres/0010).
ALTER TABLE devices ADD COLUMN temperature_considered_until TEXT;
ALTER TABLE devices ADD COLUMN humidity_considered_until TEXT;
