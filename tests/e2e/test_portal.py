"""The enterprise portal in a real browser (headless Chromium): Chinese by default, the
English switch, logging in and landing on "my consents"."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from authz.accounts.service import create_user
from authz.models import Role, UserKind
from finance.core.db import transaction
from finance.core.settings import Settings
from finance.core.types import utcnow
from finance.ingestion.service import ingest_file
from tests.builders import registration_row, uscc, write_csv
from tests.finance.test_serve import _free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# CI installs Chromium and sets FINANCE_E2E_REQUIRED=1, so there a missing browser fails.
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("FINANCE_E2E_REQUIRED") == "1":
        raise RuntimeError("e2e tests need chromium and chromedriver (see .ci/run)")
    pytest.skip("no Chromium on this machine (CI installs it)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
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
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"FINANCE_PUBLIC_URL": base}
    process = subprocess.Popen(
        [sys.executable, "-m", "finance.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


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
    assert browser.find_element(By.CSS_SELECTOR, "[role=alert]").is_displayed()

    browser.find_element(By.NAME, "username").send_keys("legalrep")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    deadline = time.monotonic() + 10
    while "/my/consents" not in browser.current_url and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "/my/consents" in browser.current_url
    assert "My consents" in browser.page_source  # the English choice is remembered
    browser.save_screenshot(str(tmp_path / "my-consents.png"))
