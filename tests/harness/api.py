"""The parents' API in-process (Starlette's TestClient runs the real app and its lifespan),
with helpers for the steps most API tests start with: an account, a claimed device."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from cloud.claims import generate_claim_code, hash_claim_code
from cloud.storage import Storage

API_TEST_SECRET = "api-devices-test-secret-0123456789-abcdefghijk"


@dataclass
class Api:
    client: TestClient

    @property
    def storage(self) -> Storage:
        storage: Storage = self.client.app.state.services.storage  # type: ignore[attr-defined]
        return storage

    def run(self, function: Any, *args: Any) -> Any:
        """Call an async storage method on the app's own event loop."""
        return self.client.portal.call(function, *args)  # type: ignore[union-attr]

    def signup(self, name: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        user = self.client.post(
            "/auth/register", json={"email": email, "password": "testPassword123", "name": name}
        ).json()
        login = self.client.post(
            "/auth/login", json={"email": email, "password": "testPassword123"}
        )
        session = login.json()
        return user["id"], {"Authorization": f"Bearer {session['access_token']}"}, session

    def new_device(self) -> tuple[str, str]:
        device_id = f"dev-{uuid.uuid4().hex[:10]}"
        code = generate_claim_code()
        expires = datetime.now(UTC) + timedelta(days=1)
        self.run(self.storage.set_claim_code, device_id, hash_claim_code(code), expires)
        return device_id, code

    def claimed_device(self, headers: dict[str, str]) -> str:
        device_id, code = self.new_device()
        response = self.client.post(
            "/devices/claim", headers=headers, json={"claim_code": code, "name": "Nursery"}
        )
        assert response.status_code == 201, response.text
        return device_id
