-- Why a cry episode ended when the detector did not hear it end: the contract's optional
-- `end_reason` of a `cry_ended` ("device_restarted": the device closed, on its next start, an
-- episode a power cut or crash left open). NULL for an end the detector heard, and for every
-- other kind. Kept so the parents' app can tell an ordinary end from one the monitor lost.
--
-- A nullable column without a default or constraint: TimescaleDB (2.1 and later) adds it to a
-- compressed hypertable as it is, and PostgreSQL adds it without rewriting the table. The
-- contract bounds it (a lowercase word of at most 64 characters); the collector decodes it.
ALTER TABLE events ADD COLUMN end_reason TEXT;
