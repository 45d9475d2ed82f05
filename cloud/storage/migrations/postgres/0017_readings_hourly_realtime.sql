-- requires: timescaledb
-- The API's time series reads whole hours from readings_hourly (cloud/storage/postgres/
-- timeseries.py), so the aggregate has to give exactly what the raw rows give:
-- * sums and counts of non-NULL values, so that hours re-bucketed into days (and hours with a
--   missing sensor value) average exactly as avg() over the raw rows does;
-- * real-time aggregation (materialized_only = false): hours past the last refresh, including
--   the open hour, come from the raw rows at query time;
-- * a refresh over all time (start_offset NULL) rather than the last 3 days: a device replaying
--   a week of outbox invalidates hours older than 3 days, which were never refreshed again; and
--   a database upgraded to TimescaleDB gets its whole history materialised by the first run.
--   Each run re-materialises only invalidated hours.
-- Dropping the old aggregate drops its policy too; until the new one's first refresh, reads
-- fall through to the raw rows (real-time aggregation below an empty watermark).

DROP MATERIALIZED VIEW IF EXISTS readings_hourly;

CREATE MATERIALIZED VIEW readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id,
       time_bucket(INTERVAL '1 hour', time) AS bucket,
       avg(temperature)   AS avg_temperature,
       avg(humidity)      AS avg_humidity,
       count(*)           AS record_count,
       sum(temperature)   AS sum_temperature,
       count(temperature) AS temperature_count,
       sum(humidity)      AS sum_humidity,
       count(humidity)    AS humidity_count
FROM readings
WHERE source = 'device'
GROUP BY device_id, bucket
WITH NO DATA;

SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => NULL, end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes', initial_start => now());
