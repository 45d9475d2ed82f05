"""``/installer``: installers provision devices (``nursery-edge setup`` calls this) and revoke
the ones they provisioned.

An installer never sees a family's readings: only whether a device was claimed, whether it is
online, and when it was last seen. The broker password and the claim code are in the response
to the provisioning call and nowhere else, ever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Response, status
from pydantic import BaseModel, Field

from cloud.api.deps import INSTALLER_RESPONSES, InstallerUser, ServicesDep
from cloud.config import ProvisioningSettings
from cloud.provisioning import ProvisioningError, provision_device, revoke_device
from cloud.storage.records import ProvisionedDevice
from models.contract.topics import DEVICE_ID_PATTERN

router = APIRouter(prefix="/installer", tags=["installer"], responses=INSTALLER_RESPONSES)

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN.pattern, max_length=64)]
NOT_CONFIGURED: dict[int | str, dict[str, Any]] = {
    503: {"description": "device provisioning is not configured on this server"}
}


class ProvisionedDeviceCredentials(BaseModel):
    """Everything the device needs, shown once: keep the password on the device only."""

    device_id: str = Field(examples=["nursery-4k7p2x9m1q"])
    mqtt_username: str
    mqtt_password: str = Field(description="the device's broker password; not retrievable later")
    claim_code: str = Field(
        examples=["ABCDE-12345"], description="single use; the parents enter it in the app"
    )
    claim_expires_at: datetime
    broker_host: str
    broker_port: int
    ca_certificate: str | None = Field(
        default=None, description="PEM of the CA that signed the broker's TLS certificate"
    )


class ProvisionedDeviceRead(BaseModel):
    model_config = {"from_attributes": True}

    device_id: str
    created_at: datetime
    claimed: bool
    revoked_at: datetime | None
    online: bool
    last_seen: datetime | None


def _settings(services: ServicesDep) -> ProvisioningSettings:
    if services.provisioning is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Device provisioning is not configured on this server (MOSQUITTO_PASSWORD_FILE)",
        )
    return services.provisioning


@router.post(
    "/devices",
    response_model=ProvisionedDeviceCredentials,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_CONFIGURED,
)
async def provision(
    installer: InstallerUser, services: ServicesDep, response: Response
) -> ProvisionedDeviceCredentials:
    settings = _settings(services)
    try:
        device = await provision_device(services.storage, settings, installer.id)
    except ProvisioningError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    # The body holds a password: no proxy or browser may keep it.
    response.headers["Cache-Control"] = "no-store"
    return ProvisionedDeviceCredentials(
        device_id=device.device_id,
        mqtt_username=device.mqtt_username,
        mqtt_password=device.mqtt_password,
        claim_code=device.claim_code,
        claim_expires_at=device.claim_expires_at,
        broker_host=device.broker_host,
        broker_port=device.broker_port,
        ca_certificate=device.ca_certificate,
    )


@router.get("/devices", response_model=list[ProvisionedDeviceRead])
async def list_provisioned(
    installer: InstallerUser, services: ServicesDep
) -> list[ProvisionedDevice]:
    return await services.storage.list_provisioned_devices(installer.id)


@router.delete(
    "/devices/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_CONFIGURED, 404: {"description": "not a device this installer provisioned"}},
)
async def revoke(device_id: DeviceId, installer: InstallerUser, services: ServicesDep) -> Response:
    settings = _settings(services)
    try:
        revoked = await revoke_device(services.storage, settings, device_id, installer.id)
    except ProvisioningError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    if not revoked:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Device not found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
