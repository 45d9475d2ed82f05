"""The API documentation page (/docs) loads nothing from another host: its scripts,
styles and icon are served by the API itself, so the docs work on a network without internet.

No storage is needed: the pages are static, so the app is used without its lifespan.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.config import ApiSettings

# src, href and ReDoc's spec-url in the page, and the strings its inline script loads (url: '...').
REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.fixture
def client() -> TestClient:
    settings = ApiSettings(
        database_url="sqlite:///unused.db", jwt_secret="docs-unit-test-secret-0123456789abcdef"
    )
    # Not entered as a context manager: no lifespan, no database.
    return TestClient(create_app(settings))


def references(html: str) -> list[str]:
    return [first or second for first, second in REFERENCE.findall(html)]


@pytest.mark.parametrize(
    ("page", "kinds"),
    [("/docs", {"javascript", "css", "png", "json"})],
)
def test_docs_pages_reference_only_assets_this_server_serves(
    client: TestClient, page: str, kinds: set[str]
) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    found = references(answer.text)
    assert found, answer.text
    for url in found:
        # A path on this server: not another host, not a protocol-relative //host/...
        assert re.match(r"/[^/]", url), f"{page} loads {url}"
    served = set()
    for url in found:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        served.add(asset.headers["content-type"].split(";")[0].rsplit("/", 1)[1])
    assert kinds <= served, served
