"""Shared pieces of the browser tests: the Chromium check, a live ``finance serve`` and a
headless Chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.finance.test_serve import _free_port

if TYPE_CHECKING:
    from selenium import webdriver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def require_browser() -> None:
    """Skip the calling test module when Chromium is missing, except in CI: there
    (``FINANCE_E2E_REQUIRED=1``, set by .ci/run after installing it) a missing browser is
    an error."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if os.environ.get("FINANCE_E2E_REQUIRED") == "1":
        raise RuntimeError("e2e tests need chromium and chromedriver (see .ci/run)")
    pytest.skip("no Chromium on this machine (CI installs it)", allow_module_level=True)


@contextmanager
def live_server() -> Iterator[str]:
    """``finance serve`` in a child process on a free loopback port, on the database the
    test's settings point at; yields its base URL once /healthz answers."""
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
            assert process.poll() is None, "finance serve exited"
            assert time.monotonic() < deadline, "finance serve did not come up in 30 s"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile and no background networking (the machine's
    network is closed)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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


def wait_until(driver: webdriver.Chrome, check: Callable[[], object], seconds: float = 10) -> None:
    """Poll ``check`` until it is truthy: a page reached after a click is not there yet
    when ``click()`` returns."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():
                return
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        assert time.monotonic() < deadline, f"timed out at {driver.current_url}"
        time.sleep(0.1)


def wait_for_url(driver: webdriver.Chrome, fragment: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while fragment not in driver.current_url:
        assert time.monotonic() < deadline, f"never reached {fragment}: at {driver.current_url}"
        time.sleep(0.1)
    return str(driver.current_url)
