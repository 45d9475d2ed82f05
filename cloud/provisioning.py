"""Provisioning: a new device gets an id, its own broker account and a claim code.

Used by ``POST /installer/devices`` and ``nursery-cloud device add``. The broker password is
returned exactly once (to the installer's ``nursery-edge setup``) and stored only as the
broker's hash; the claim code is returned once and stored only as its SHA-256.

Order matters for what a failure leaves behind: the database row first (it catches an id
collision), then the broker account; if the broker cannot be changed the row is revoked so
that nobody can claim a device that can never connect. Revoking goes the other way: the broker
account first (that is what stops the device), then the row.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloud.broker.accounts import BrokerAccountsError, MosquittoAccounts
from cloud.claims import ALPHABET, DEFAULT_CLAIM_TTL, generate_claim_code, hash_claim_code
from cloud.config import ProvisioningSettings
from cloud.storage import ClaimCodeInUseError, DuplicateDeviceError, Storage

logger = logging.getLogger(__name__)

DEVICE_ID_PREFIX = "nursery-"
DEVICE_ID_RANDOM_CHARS = 10  # 50 bits: ids are not secret, but must never collide
PASSWORD_BYTES = 24  # 192 bits, URL-safe text
MINT_ATTEMPTS = 5


class ProvisioningError(RuntimeError):
    """The device could not be provisioned; the message says why."""


@dataclass(frozen=True, slots=True)
class NewDevice:
    device_id: str
    mqtt_username: str
    mqtt_password: str
    claim_code: str
    claim_expires_at: datetime
    broker_host: str
    broker_port: int
    ca_certificate: str | None


def accounts_for(settings: ProvisioningSettings) -> MosquittoAccounts:
    return MosquittoAccounts(Path(settings.password_file), Path(settings.pid_file))


def mint_device_id() -> str:
    alphabet = ALPHABET.lower()
    return DEVICE_ID_PREFIX + "".join(
        secrets.choice(alphabet) for _ in range(DEVICE_ID_RANDOM_CHARS)
    )


async def provision_device(
    storage: Storage,
    settings: ProvisioningSettings,
    installer_id: int | None,
    claim_ttl: timedelta = DEFAULT_CLAIM_TTL,
) -> NewDevice:
    accounts = accounts_for(settings)
    expires_at = datetime.now(UTC) + claim_ttl
    for _ in range(MINT_ATTEMPTS):
        device_id, claim_code = mint_device_id(), generate_claim_code()
        try:
            await storage.provision_device(
                device_id, hash_claim_code(claim_code), expires_at, installer_id
            )
            break
        except (DuplicateDeviceError, ClaimCodeInUseError):
            continue
    else:
        raise ProvisioningError(f"no unused device id after {MINT_ATTEMPTS} attempts")
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    try:
        accounts.set_password(device_id, password)
    except (BrokerAccountsError, OSError) as exc:
        await storage.revoke_device(device_id, datetime.now(UTC), None)
        # Written but not applied: take it out again so a later reload cannot enable it.
        with contextlib.suppress(BrokerAccountsError, OSError):
            accounts.remove(device_id, reload=False)
        raise ProvisioningError(
            f"the broker account for {device_id} was not created: {exc}"
        ) from exc
    logger.info("device %s provisioned (installer %s)", device_id, installer_id)
    return NewDevice(
        device_id=device_id,
        mqtt_username=device_id,
        mqtt_password=password,
        claim_code=claim_code,
        claim_expires_at=expires_at,
        broker_host=settings.device_host,
        broker_port=settings.device_port,
        ca_certificate=settings.ca_certificate,
    )


async def revoke_device(
    storage: Storage, settings: ProvisioningSettings, device_id: str, installer_id: int | None
) -> bool:
    """Remove the device's broker access (its live connection is dropped) and mark it revoked.
    False when the caller may not revoke it or it does not exist."""
    if installer_id is not None and not any(
        device.device_id == device_id
        for device in await storage.list_provisioned_devices(installer_id)
    ):
        return False
    try:
        accounts_for(settings).remove(device_id)
    except (BrokerAccountsError, OSError) as exc:
        raise ProvisioningError(
            f"the broker account of {device_id} was not removed: {exc}"
        ) from exc
    revoked = await storage.revoke_device(device_id, datetime.now(UTC), installer_id)
    logger.info("device %s revoked (by installer %s)", device_id, installer_id)
    return revoked
