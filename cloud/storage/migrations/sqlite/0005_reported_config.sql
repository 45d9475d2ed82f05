-- What each device last reported on config/reported (as migrations/postgres/0006).

ALTER TABLE devices ADD COLUMN reported_revision INTEGER;
ALTER TABLE devices ADD COLUMN reported_accepted INTEGER;
ALTER TABLE devices ADD COLUMN reported_settings TEXT;
ALTER TABLE devices ADD COLUMN reported_error TEXT;
ALTER TABLE devices ADD COLUMN reported_at TEXT;
