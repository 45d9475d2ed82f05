-- What the detector heard in a cry episode besides its cry score: the contract's optional
-- `heard` of an event (at most 5 `{"label", "score"}`, best first, e.g. "Baby cry, infant cry"
-- 0.93, "Whimper" 0.41). NULL when the device sent none (older firmware, a model without a
-- labelled backbone). Labels and scores only: no audio ever leaves the home. Kept so the
-- parents' app and the alert can say what the monitor heard.
--
-- A nullable column without a default or constraint, as 0018: TimescaleDB (2.1 and later) adds
-- it to a compressed hypertable as it is, and PostgreSQL adds it without rewriting the table.
-- The contract bounds it (cloud/collector/decode.py decodes it before it is stored).
ALTER TABLE events ADD COLUMN heard JSONB;
