-- Device readings are checked against `devices` once per batch instead of once per row.
--
-- The foreign key from readings.device_id ran one lookup-and-lock query per inserted row, a
-- quarter of the collector's INSERT time (1,000 readings: 25.0 ms with it, 18.8 ms without;
-- docs/performance.md, "Eighth round"). The collector is the only writer of device readings
-- (app uploads carry no device_id) and now takes the same lock itself, once for all the
-- batch's devices: `SELECT ... FOR KEY SHARE` before it inserts (cloud.storage.postgres.ingest),
-- so a device cannot be deleted between that check and the commit. Deleting a device still
-- deletes its readings, by the trigger below instead of ON DELETE CASCADE.
--
-- events keep their foreign key: a few rows per batch, not thousands.
ALTER TABLE readings DROP CONSTRAINT IF EXISTS readings_device_id_fkey;

CREATE FUNCTION delete_device_readings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM readings WHERE device_id = OLD.device_id;
    RETURN OLD;
END;
$$;

CREATE TRIGGER devices_delete_readings
    AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION delete_device_readings();
