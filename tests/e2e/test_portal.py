"""The enterprise portal in a real browser (headless Chromium): Chinese by default, the
English switch, logging in and landing on "my consents"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from authz.accounts.service import create_user
from authz.models import Role, UserKind
from finance.core.db import transaction
from finance.core.settings import Settings
from finance.core.types import utcnow
from finance.ingestion.service import ingest_file
from tests.builders import registration_row, uscc, write_csv
from tests.e2e.support import chromium, live_server, require_browser, wait_for_url, wait_until

require_browser()

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery staple"
ENTERPRISE = uscc(501)


@pytest.fixture
def server(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[str]:
    path = write_csv(tmp_path / "registration.csv", "registration", [registration_row(ENTERPRISE)])
    assert ingest_file(engine, "registration", path).exit_code == 0
    with transaction(engine) as session:
        create_user(
            session,
            username="legalrep",
            password=PASSWORD,
            kind=UserKind.ENTERPRISE,
            roles=[Role.LEGAL_REP],
            now=utcnow(),
            uscc=ENTERPRISE,
        )
    with live_server() as base:
        yield base


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    with chromium() as driver:
        yield driver


def test_login_in_chinese_then_english_and_land_on_my_consents(
    server: str, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    browser.get(f"{server}/login")
    assert browser.find_element(By.TAG_NAME, "h1").text == "登录"
    browser.get(f"{server}/login?lang=en")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Log in"

    browser.find_element(By.NAME, "username").send_keys("legalrep")
    browser.find_element(By.NAME, "password").send_keys("wrong password entirely")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_until(
        browser, lambda: browser.find_element(By.CSS_SELECTOR, "[role=alert]").is_displayed()
    )

    browser.find_element(By.NAME, "username").send_keys("legalrep")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for_url(browser, "/my/consents")
    wait_until(
        browser, lambda: "My consents" in browser.page_source
    )  # the English choice is remembered
    browser.save_screenshot(str(tmp_path / "my-consents.png"))
