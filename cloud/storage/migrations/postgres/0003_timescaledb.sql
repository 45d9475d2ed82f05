-- requires: timescaledb
-- Applied only where the timescaledb extension is available (checked again on every start, so
-- installing it later upgrades an existing database). Turns readings and events into
-- hypertables and adds the hourly continuous aggregate the API's time series reads.
-- Compression and retention policies are set by the migration runner from settings.

CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('readings', 'time', migrate_data => true, if_not_exists => true);
SELECT create_hypertable('events', 'time', migrate_data => true, if_not_exists => true);

CREATE MATERIALIZED VIEW readings_hourly
WITH (timescaledb.continuous) AS
SELECT device_id,
       time_bucket(INTERVAL '1 hour', time) AS bucket,
       avg(temperature) AS avg_temperature,
       avg(humidity)    AS avg_humidity,
       count(*)         AS record_count
FROM readings
WHERE source = 'device'
GROUP BY device_id, bucket
WITH NO DATA;

SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
