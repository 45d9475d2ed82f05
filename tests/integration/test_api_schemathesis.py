"""Property-based fuzzing of the API against its own OpenAPI schema (schemathesis), on both
storage backends: whatever schemathesis generates, valid or not, the API never answers 5xx, and
every answer has a documented status code, a documented content type and a body that conforms to
the documented schema.

The app runs in-process as in the contract test: Starlette's TestClient owns the app (lifespan
included: storage, migrations, the cry model) and sends every request; schemathesis only
generates the cases and validates the responses. Every operation is fuzzed with a valid bearer
token, and the operations that need one are fuzzed again without it (the 401 paths). Inputs the
fuzzer found to break the API, or that it reaches too rarely, are pinned as explicit cases. The run
is bounded and deterministic (fixed seed, derandomized Hypothesis, no example database), so CI
sees the same cases every time. WebSocket routes are not in the OpenAPI schema; the contract test
covers them.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.api import create_app
from cloud.config import ApiSettings
from cloud.push.keys import generate_vapid_keys
from cloud.push.settings import PushSettings

SECRET = "api-schemathesis-test-secret-0123456789-abcdef"
PASSWORD = "fuzzPassword123"
SEED = 20240611
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Bounded for CI (the examples and coverage phases add their own cases to these); password
# hashing on register and login dominates the run time.
AUTHENTICATED = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Without a token every secured operation answers 401 whatever else is sent: a few cases do.
UNAUTHENTICATED = settings(AUTHENTICATED, max_examples=10)


# Push on, so the push operations are fuzzed past "not configured" (subscriptions are checked
# against the default push services' hosts; the fuzzer's endpoints are refused with 422).
PUSH = PushSettings(
    vapid_private_key=generate_vapid_keys().private_key, vapid_subject="mailto:fuzz@example.org"
)


def _settings(database_url: str, upload_dir: Path) -> ApiSettings:
    return ApiSettings(
        push=PUSH,
        database_url=database_url,
        jwt_secret=SECRET,
        upload_dir=str(upload_dir),
        max_upload_bytes=1024 * 1024,
        # Generous, so fuzzed credentials reach the account lookup instead of being cut short by
        # the limiter's 429 after a handful of failures (the contract test covers the limiter).
        login_failures_per_minute=10_000,
    )


def _files_as_file_parts(openapi: dict[str, Any]) -> dict[str, Any]:
    """The schema with each optional upload (``anyOf: [binary string, null]``, FastAPI's
    rendering of ``UploadFile | None``) narrowed to the binary string.

    schemathesis sends a multipart property as a file part (with a filename) only when the
    property itself is ``contentMediaType: application/octet-stream``; behind ``anyOf`` it is
    sent as a plain text field, which the API rejects with 422 before any audio is read. A
    multipart body cannot carry a null anyway: an optional part is simply left out, which
    schemathesis still does. Only the fuzzer's copy of the schema is narrowed."""
    narrowed = copy.deepcopy(openapi)
    for component in narrowed.get("components", {}).get("schemas", {}).values():
        for name, prop in component.get("properties", {}).items():
            branches = prop.get("anyOf", [])
            files = [b for b in branches if b.get("contentMediaType") == "application/octet-stream"]
            if files and all(b in files or b == {"type": "null"} for b in branches):
                rest = {key: value for key, value in prop.items() if key != "anyOf"}
                component["properties"][name] = {**rest, **files[0]}
    return narrowed


# The schema the app publishes at /openapi.json: building the app runs no lifespan and needs no
# database, so the operations are known at collection time and each becomes its own test item.
# (The lazy ``schemathesis.pytest.from_fixture`` loader is not used: it writes pytest's private
# ``Node._nodeid``, which pytest 9.2 no longer has.)
OPENAPI = create_app(_settings("sqlite://", Path("unused"))).openapi()
schema = schemathesis.openapi.from_dict(
    _files_as_file_parts(OPENAPI), config=schemathesis.Config.from_dict({"seed": SEED})
)
# Without a token only the fuzzing phase runs: the coverage phase's hundreds of boundary cases
# per operation would all be answered 401 the same way.
FUZZING_ONLY = {
    "seed": SEED,
    "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}},
}
unauthenticated_schema = schemathesis.openapi.from_dict(
    _files_as_file_parts(OPENAPI), config=schemathesis.Config.from_dict(FUZZING_ONLY)
)
# Operations that require a bearer token: the only ones worth fuzzing without one.
SECURED = {
    f"{method.upper()} {path}"
    for path, operations in OPENAPI["paths"].items()
    for method, operation in operations.items()
    if operation.get("security")
}


@dataclass(frozen=True, slots=True)
class Api:
    client: TestClient
    email: str
    # Updated in place when a fuzzed operation ended the sign-in (see valid_auth).
    auth: dict[str, str]

    def valid_auth(self) -> dict[str, str]:
        """The bearer header, signed in again first if a case before (``POST /auth/logout-all``
        retires every access token of the user) ended the sign-in."""
        if self.client.get("/auth/me", headers=self.auth).status_code == 401:
            login = self.client.post(
                "/auth/token", data={"username": self.email, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            self.auth["Authorization"] = f"Bearer {login.json()['access_token']}"
        return self.auth


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def api(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One running app per backend for the whole module; every operation is fuzzed against it."""
    tmp_path = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    url = database_url if request.param == "postgres" else f"sqlite:///{tmp_path / 'api.db'}"
    with TestClient(create_app(_settings(url, tmp_path / "uploads"))) as client:
        email = f"fuzz-{uuid.uuid4().hex[:8]}@example.com"
        registered = client.post("/auth/register", json={"email": email, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        login = client.post("/auth/token", data={"username": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        yield Api(client=client, email=email, auth={"Authorization": f"Bearer {token}"})


def send_and_validate(client: TestClient, case: Case[Any], headers: dict[str, str]) -> int:
    """Send the case through the TestClient, run the checks on the answer and return its status.

    schemathesis serialises a case to ``requests`` arguments (query string, JSON, form and
    multipart bodies); preparing them gives the exact bytes and headers, which the TestClient
    sends unchanged to the app. A server exception propagates with its traceback."""
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    prepared = requests.Request(**kwargs).prepare()
    assert prepared.method is not None
    assert prepared.url is not None
    response = client.request(
        prepared.method,
        prepared.url,
        headers=dict(prepared.headers),
        content=prepared.body,
        follow_redirects=False,
    )
    case.validate_response(response, checks=CHECKS, headers=headers)
    status: int = response.status_code
    return status


@schema.parametrize()
@AUTHENTICATED
def test_every_operation_conforms_to_the_schema(case: Case[Any], api: Api) -> None:
    send_and_validate(api.client, case, api.valid_auth())


@unauthenticated_schema.include(lambda ctx: ctx.operation.label in SECURED).parametrize()
@UNAUTHENTICATED
def test_secured_operations_conform_to_the_schema_without_a_token(
    case: Case[Any], api: Api
) -> None:
    send_and_validate(api.client, case, {})


TOO_BIG = 2**63  # one past BIGINT
UPLOAD = {"temperature": 37.5, "humidity": 65.0}
# (operation, case data, expected status): inputs that once answered 500 or that random
# generation rarely reaches, each sent with the fuzzer's checks.
EDGE_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("GET /health/history", {"query": {"offset": TOO_BIG}}, 422),
    ("GET /health/history", {"query": {"offset": TOO_BIG - 1}}, 200),
    ("GET /health/history", {"query": {"start_date": "0001-01-01T00:00:00"}}, 422),
    ("GET /health/history", {"query": {"end_date": "9999-12-31T23:59:59-14:00"}}, 422),
    ("GET /health/history", {"query": {"start_date": "1970-01-01T00:00:00"}}, 200),
    ("GET /health/timeseries", {"query": {"end_date": "0001-01-01T00:00:00Z"}}, 422),
    ("GET /health/timeseries", {"query": {"end_date": "1970-01-01T00:00:00Z"}}, 200),
    ("GET /health/{record_id}", {"path_parameters": {"record_id": TOO_BIG}}, 422),
    (
        "POST /auth/register",
        {"body": {"email": "nul@example.com", "password": PASSWORD, "name": "a\x00b"}},
        422,
    ),
    ("POST /auth/token", {"body": {"username": "a\x00b@example.com", "password": "x"}}, 401),
    ("POST /health/upload", {"body": {**UPLOAD, "notes": "a\x00b"}}, 422),
    ("POST /health/upload", {"body": {**UPLOAD, "audio": b"not audio at all"}}, 400),
    ("POST /health/upload", {"body": {**UPLOAD, "audio": b""}}, 400),
    ("POST /health/upload", {"body": {**UPLOAD, "temperature": 99.0}}, 400),
    ("POST /health/upload", {"body": {**UPLOAD, "notes": "calm"}}, 201),
    ("POST /alerts/read", {"body": {"alert_ids": [2**64]}}, 422),
    ("POST /alerts/read", {"body": {"alert_ids": [TOO_BIG - 1]}}, 200),
    ("GET /alerts/{alert_id}/deliveries", {"path_parameters": {"alert_id": TOO_BIG}}, 422),
    ("GET /alerts/{alert_id}/deliveries", {"path_parameters": {"alert_id": 1}}, 404),
    ("POST /alerts/{alert_id}/not-a-cry", {"path_parameters": {"alert_id": TOO_BIG}}, 422),
    ("POST /alerts/{alert_id}/not-a-cry", {"path_parameters": {"alert_id": TOO_BIG - 1}}, 404),
    ("DELETE /alerts/{alert_id}/not-a-cry", {"path_parameters": {"alert_id": 1}}, 404),
    (
        "DELETE /devices/{device_id}/ignored-sounds/{episode_id}",
        {"path_parameters": {"device_id": "dev-1", "episode_id": TOO_BIG}},
        422,
    ),
    (
        "DELETE /devices/{device_id}/ignored-sounds/{episode_id}",
        {"path_parameters": {"device_id": "dev-1", "episode_id": 0}},
        404,
    ),
    (
        "DELETE /push/subscriptions/{subscription_id}",
        {"path_parameters": {"subscription_id": 1}},
        404,
    ),
    ("POST /push/ack", {"body": {"token": "not-a-token"}}, 401),
    (
        "POST /push/subscriptions",
        {
            "body": {
                "endpoint": "https://fcm.googleapis.com/fcm/send/x",
                "channel": "fcm",
                "keys": {"p256dh": "x", "auth": "y"},
            }
        },
        422,
    ),
    (
        "POST /push/subscriptions",
        {"body": {"endpoint": "https://127.0.0.1/x", "keys": {"p256dh": "x", "auth": "y"}}},
        422,
    ),
    (
        "PUT /devices/{device_id}/settings",
        {
            "path_parameters": {"device_id": "dev-1"},
            "body": {"nursery": {"offline_grace_s": 1e300}},
        },
        422,
    ),
]


@pytest.mark.parametrize(
    ("label", "data", "expected"), EDGE_CASES, ids=[f"{c[0]}-{c[2]}" for c in EDGE_CASES]
)
def test_edge_inputs_are_answered_as_documented(
    api: Api, label: str, data: dict[str, Any], expected: int
) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    media_type = next(iter(operation.get_request_payload_content_types()), None)
    case = operation.Case(media_type=media_type if "body" in data else None, **data)
    assert send_and_validate(api.client, case, api.valid_auth()) == expected
