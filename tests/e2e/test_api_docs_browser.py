"""The API documentation renders in a real browser with no internet: Debian's headless Chromium,
driven by Playwright, against a real `nursery-cloud api`, with every request to another host
refused. Before, /docs loaded Swagger UI from a CDN and stayed blank offline."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from tests.harness.api_process import running_api

CHROMIUM = Path("/usr/bin/chromium")
RENDER_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("api-docs")
    database_url = f"sqlite:///{workdir / 'nursery.db'}"
    secret = "api-docs-browser-test-secret-0123456789-abcdef"
    with running_api(database_url, secret, workdir, timeout_s=60) as url:
        yield url


@pytest.fixture
def offline_page(api_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A page that can reach only the API; what it tried to fetch elsewhere is listed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    elsewhere: list[str] = []

    def only_the_api(route: Route) -> None:
        if route.request.url.startswith(api_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_api)
            yield page, elsewhere
        finally:
            browser.close()


def test_swagger_ui_renders_offline(api_url: str, offline_page: tuple[Page, list[str]]) -> None:
    page, elsewhere = offline_page
    page.goto(f"{api_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(
        "Nursery API", timeout=RENDER_TIMEOUT_MS
    )
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator(".opblock").count() > 10
    assert elsewhere == []


def test_redoc_is_not_served(api_url: str) -> None:
    """ReDoc's bundle loads its logo from redocly's CDN whatever the page says: not offered."""
    with urllib.request.urlopen(f"{api_url}/docs") as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{api_url}/redoc")
    assert refused.value.code == 404
