"""The dashboard's files are served at ``/`` and ``/dashboard/<file>`` with a strict
Content-Security-Policy and the other security headers; nothing outside the shipped files is
reachable; the existing API (``/docs``, the OpenAPI description) is unchanged.

No storage is needed: the dashboard routes are static, so the app is used without its lifespan.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from html.parser import HTMLParser
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.api.routes.dashboard import MEDIA_TYPES, ROOT_ASSETS, asset_names
from cloud.config import ApiSettings
from cloud.rules import NurserySettings
from models.contract import DeviceSettings

DASHBOARD = files("cloud.api").joinpath("dashboard")


@pytest.fixture
def client() -> TestClient:
    settings = ApiSettings(
        database_url="sqlite:///unused.db", jwt_secret="dashboard-unit-test-secret-0123456789"
    )
    # Not entered as a context manager: no lifespan, no database.
    return TestClient(create_app(settings))


def directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2]
        for part in policy.split(";")
        if part.strip()
    }


def assert_secure(headers: dict[str, str] | object) -> None:
    assert hasattr(headers, "get")
    policy = directives(headers.get("content-security-policy", ""))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"  # REST calls and the WebSocket, this origin only
    assert policy["manifest-src"] == "'self'"  # the installable app's manifest
    assert policy["worker-src"] == "'self'"  # its service worker (push alarms)
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in headers.get("content-security-policy", "")
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") == "no-referrer"
    assert headers.get("x-frame-options") == "DENY"


def test_the_root_serves_the_dashboard_with_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/dashboard/app.js">' in response.text
    assert_secure(response.headers)


@pytest.mark.parametrize("name", sorted(asset_names()))
def test_every_shipped_asset_is_served_with_its_type(client: TestClient, name: str) -> None:
    response = client.get(f"/dashboard/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == MEDIA_TYPES[name[name.rindex(".") :]]
    assert response.content == DASHBOARD.joinpath(name).read_bytes()
    assert_secure(response.headers)


def test_the_dashboard_ships_its_page_script_style_and_chart() -> None:
    assert {"index.html", "app.js", "style.css", "chart.js", "api.js", "live.js"} <= asset_names()


def test_an_unchanged_file_is_not_sent_again(client: TestClient) -> None:
    first = client.get("/dashboard/app.js")
    again = client.get("/dashboard/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert first.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/missing.js",
        "/dashboard/../pyproject.toml",
        "/dashboard/%2e%2e/routes/dashboard.py",
        "/dashboard/..%2Fapp.py",
        "/dashboard/",
        "/index.html",
    ],
)
def test_nothing_but_the_shipped_files_is_reachable(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_defaults_are_those_of_the_alert_rules_and_the_device(client: TestClient) -> None:
    response = client.get("/dashboard/defaults.json")
    assert response.status_code == 200
    assert_secure(response.headers)
    defaults = response.json()
    assert defaults["nursery"] == asdict(NurserySettings())
    sensitivity = DeviceSettings.model_fields["cry_sensitivity"]
    assert defaults["device"]["cry_sensitivity"]["default"] == sensitivity.default
    assert defaults["device"]["cry_sensitivity"]["minimum"] == 0.0
    assert defaults["device"]["cry_sensitivity"]["maximum"] == 1.0


def test_the_api_and_its_description_are_unchanged(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/" not in schema["paths"]
    assert not any(path.startswith("/dashboard") for path in schema["paths"])
    assert "/health/timeseries" in schema["paths"]


class _Page(HTMLParser):
    """What index.html loads and whether it carries inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("src", "href"):
            if values.get(key):
                self.references.append(str(values[key]))
        if tag == "script" and not values.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("inline <style>")
        self.problems.extend(
            f"{tag} {name}=" for name in values if name == "style" or name.startswith("on")
        )


def test_the_page_loads_only_shipped_files_and_has_no_inline_code() -> None:
    page = _Page()
    page.feed(DASHBOARD.joinpath("index.html").read_text())
    assert page.problems == []
    assert page.references
    for reference in page.references:
        if reference.removeprefix("/") in ROOT_ASSETS:
            continue  # the manifest, served at the root (tests/unit/test_dashboard_app_files.py)
        assert reference.startswith("/dashboard/"), reference
        assert reference.removeprefix("/dashboard/") in asset_names(), reference
    assert "/manifest.webmanifest" in page.references


@pytest.mark.parametrize("name", sorted(n for n in asset_names() if n.endswith(".js")))
def test_every_module_import_is_a_shipped_file(name: str) -> None:
    source = DASHBOARD.joinpath(name).read_text()
    imported = re.findall(r'^import .* from "\./([\w.-]+)";$', source, flags=re.MULTILINE)
    for module in imported:
        assert module in asset_names(), f"{name} imports {module}"
    # Text from the server is set with textContent, never parsed as markup.
    assert "innerHTML" not in source
    assert "eval(" not in source
