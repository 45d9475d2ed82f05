"""The demo's devices carry the names the demo prints ("Crying baby", "Talking room"), so the API
and the dashboard show them instead of ids; a name the visitor changed survives a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.demo.runner import default_devices
from cloud.demo.state import DEMO_EMAIL, prepare_database
from cloud.storage import open_storage


async def _names(database_url: str) -> dict[str, str | None]:
    storage = await open_storage(database_url)
    try:
        credentials = await storage.get_credentials(DEMO_EMAIL)
        assert credentials is not None
        return {d.device_id: d.name for d in await storage.list_devices(credentials.user.id)}
    finally:
        await storage.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_demo_devices_have_their_printed_names(
    backend: str, tmp_path: Path, database_url: str
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}" if backend == "sqlite" else database_url
    devices = default_devices()
    await prepare_database(url, devices)
    names = await _names(url)
    for device in devices:
        assert names[device.device_id] == device.name

    storage = await open_storage(url)
    try:
        credentials = await storage.get_credentials(DEMO_EMAIL)
        assert credentials is not None
        await storage.rename_device(credentials.user.id, devices[0].device_id, "Nursery")
    finally:
        await storage.close()
    await prepare_database(url, devices)  # the next start
    names = await _names(url)
    assert names[devices[0].device_id] == "Nursery"
    assert names[devices[1].device_id] == devices[1].name
