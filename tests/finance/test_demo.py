"""``make demo`` runs: migrate, generate and load a small SYNTHETIC province, serve."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from finance.core.settings import Settings
from tests.finance.test_serve import _free_port


@pytest.mark.slow
def test_demo_loads_a_province_and_serves(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    env = os.environ | {
        "FINANCE_DEMO_ENTERPRISES": "200",
        "FINANCE_DEMO_MONTHS": "18",
        "FINANCE_DEMO_PORT": str(port),
    }
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "finance.demo"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    if ready.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert demo.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            categories = httpx.get(f"http://127.0.0.1:{port}/api/v1/categories").json()
            assert len(categories) == 10
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    # Terminating the demo stops the server too: nothing answers on its port any more.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    text = log.read_text()
    assert "200 enterprises" in text
    assert "department records" in text
