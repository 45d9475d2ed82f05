-- Why a cry episode ended when the detector did not hear it end (as migrations/postgres/0018).
ALTER TABLE events ADD COLUMN end_reason TEXT;
