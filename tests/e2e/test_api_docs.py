"""The API reference in a real browser (headless Chromium) on this machine's closed
network: from the platform's address to the login page, its link to Swagger UI, which
renders the API's operations, and ReDoc, which renders the same document; every resource
either page fetched came from the platform itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from finance.core.settings import Settings
from tests.e2e.support import chromium, live_server, require_browser, wait_for_url, wait_until

require_browser()

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.e2e
TITLE = "SME financing data-service platform"


@pytest.fixture
def server(settings: Settings, engine: Engine) -> Iterator[str]:
    with live_server() as base:
        yield base


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def _loaded(browser: webdriver.Chrome, server: str) -> list[str]:
    """The resources the page fetched. Each one elsewhere must be one the page's
    Content-Security-Policy stopped before it left (ReDoc's bundle asks for the Redocly
    logo from its CDN): the browser logs the block and the entry transferred nothing."""
    entries: Any = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.transferSize])"
    )
    blocked = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry.get("source") == "security" and "has been blocked" in entry["message"]
    ]
    fetched = []
    for name, size in entries:
        if name.startswith(server + "/"):
            fetched.append(str(name))
        else:
            assert size == 0, name
            assert any(name in message for message in blocked), (name, blocked)
    return fetched


def test_reference_renders_offline_from_the_login_page(
    server: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    browser.get(server + "/")
    wait_for_url(browser, "/login")
    browser.find_element(By.CSS_SELECTOR, 'a[href="/docs"]').click()
    wait_for_url(browser, "/docs")
    wait_until(
        browser,
        lambda: len(browser.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")) > 10,
        seconds=30,
    )
    assert TITLE in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    assert "/oauth2/token" in browser.page_source
    loaded = _loaded(browser, server)
    assert any(name.endswith("/docs/static/swagger-ui-bundle.js") for name in loaded), loaded
    assert any(name.endswith("/openapi.json") for name in loaded), loaded
    browser.save_screenshot(str(tmp_path / "swagger-ui.png"))

    browser.get(server + "/redoc")
    wait_until(
        browser,
        lambda: "/oauth2/token" in browser.find_element(By.TAG_NAME, "body").text,
        seconds=30,
    )
    assert TITLE in browser.find_element(By.TAG_NAME, "h1").text
    loaded = _loaded(browser, server)
    assert any(name.endswith("/docs/static/redoc.standalone.js") for name in loaded), loaded
    assert any(name.endswith("/openapi.json") for name in loaded), loaded
    browser.save_screenshot(str(tmp_path / "redoc.png"))
