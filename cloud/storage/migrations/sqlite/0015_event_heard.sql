-- What the detector heard in a cry episode (as migrations/postgres/0019): the contract's
-- `heard` as JSON text, NULL when the device sent none.
ALTER TABLE events ADD COLUMN heard TEXT;
