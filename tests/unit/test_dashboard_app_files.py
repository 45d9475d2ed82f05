"""The dashboard as an installable web app: the manifest and the service worker are served at
the root with their types and the security headers, the manifest's icons exist at the sizes it
states (made by ``tests/tools/dashboard_icons.py`` from icon.svg), its colours are the page's,
the page links it with the iOS tags, and the worker caches nothing (no alarm from a stale copy).

The browser test (tests/e2e/test_dashboard_push_browser.py) checks that Chromium finds the app
installable and the worker shows pushed alarms.
"""

from __future__ import annotations

import json
import re
import struct
from importlib.resources import files
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.config import ApiSettings
from tests.tools.dashboard_icons import ICONS
from tests.unit.test_dashboard_route import _Page, assert_secure

DASHBOARD = files("cloud.api").joinpath("dashboard")


@pytest.fixture
def client() -> TestClient:
    settings = ApiSettings(
        database_url="sqlite:///unused.db", jwt_secret="dashboard-unit-test-secret-0123456789"
    )
    return TestClient(create_app(settings))  # no lifespan, no database


def manifest() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.joinpath("manifest.webmanifest").read_text())
    return document


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_manifest_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/manifest+json"
    assert_secure(response.headers)
    assert response.json() == manifest()


def test_the_service_worker_is_served_at_the_root_and_always_revalidated(
    client: TestClient,
) -> None:
    response = client.get("/sw.js")
    assert response.status_code == 200
    # A JavaScript type, or the browser refuses to register it.
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert_secure(response.headers)
    assert response.content == DASHBOARD.joinpath("sw.js").read_bytes()


@pytest.mark.parametrize("name", ["sw.js", "manifest.webmanifest"])
def test_the_root_files_are_not_served_under_dashboard(client: TestClient, name: str) -> None:
    # /dashboard/sw.js would register a second worker limited to /dashboard/.
    assert client.get(f"/dashboard/{name}").status_code == 404


def test_the_manifest_makes_an_installable_standalone_app_for_the_whole_site() -> None:
    app = manifest()
    assert app["name"] == "Nursery"
    assert app["short_name"] == "Nursery"
    assert app["start_url"] == "/"
    assert app["scope"] == "/"
    assert app["display"] == "standalone"


def test_the_manifest_colours_are_the_pages() -> None:
    style = DASHBOARD.joinpath("style.css").read_text()
    background = re.search(r"--bg:\s*(#[0-9a-fA-F]{6});", style)
    assert background is not None
    page = DASHBOARD.joinpath("index.html").read_text()
    theme = re.search(r'<meta name="theme-color" content="(#[0-9a-fA-F]{6})">', page)
    assert theme is not None
    app = manifest()
    assert app["background_color"] == background.group(1)
    assert app["theme_color"] == theme.group(1) == background.group(1)


def test_every_manifest_icon_is_served_at_its_stated_size(client: TestClient) -> None:
    icons = manifest()["icons"]
    for icon in icons:
        response = client.get(icon["src"])
        assert response.status_code == 200, icon
        assert response.headers["content-type"] == icon["type"], icon
        if icon["type"] == "image/png":
            width, height = png_size(response.content)
            assert icon["sizes"] == f"{width}x{height}", icon
    pngs = {icon["sizes"] for icon in icons if icon["type"] == "image/png"}
    assert {"192x192", "512x512"} <= pngs
    assert any(icon["type"] == "image/svg+xml" for icon in icons)
    assert any(icon.get("purpose") == "maskable" for icon in icons)


@pytest.mark.parametrize("icon", ICONS, ids=lambda icon: icon.name)
def test_the_generated_icons_are_committed_at_their_sizes(icon: Any) -> None:
    assert png_size(DASHBOARD.joinpath(icon.name).read_bytes()) == (icon.size, icon.size)


def test_the_page_links_the_manifest_and_the_ios_tags() -> None:
    source = DASHBOARD.joinpath("index.html").read_text()
    page = _Page()
    page.feed(source)
    assert "/manifest.webmanifest" in page.references
    assert "/dashboard/apple-touch-icon.png" in page.references
    assert '<link rel="apple-touch-icon" href="/dashboard/apple-touch-icon.png">' in source
    assert '<meta name="apple-mobile-web-app-capable" content="yes">' in source


def test_the_service_worker_caches_nothing_and_runs_no_markup() -> None:
    source = DASHBOARD.joinpath("sw.js").read_text()
    # No fetch handler and no Cache Storage: every request reaches the server.
    assert not re.search(r"addEventListener\(\s*[\"']fetch[\"']", source)
    assert "caches." not in source
    assert "importScripts" not in source
    assert "innerHTML" not in source
    assert "eval(" not in source
    for event in ("push", "notificationclick", "pushsubscriptionchange"):
        assert re.search(rf"addEventListener\(\s*\"{event}\"", source), event
