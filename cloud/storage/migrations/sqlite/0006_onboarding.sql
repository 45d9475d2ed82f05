-- Onboarding (issue 7): installers provision devices, operators revoke them.

-- 'parent' accounts use the app; 'installer' accounts may also provision devices
-- (POST /installer/devices) and revoke the devices they provisioned.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'parent'
    CHECK (role IN ('parent', 'installer'));

-- who provisioned the device (NULL: the operator's CLI, or a device registered by hand)
ALTER TABLE devices ADD COLUMN provisioned_by INTEGER REFERENCES users (id) ON DELETE SET NULL;
-- set when the device's broker account was removed; it can neither connect nor be claimed
ALTER TABLE devices ADD COLUMN revoked_at TEXT;
CREATE INDEX devices_provisioned_by ON devices (provisioned_by) WHERE provisioned_by IS NOT NULL;
