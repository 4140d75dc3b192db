"""``finance serve`` runs the real server: health, readiness, request ids, JSON logs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import Engine

from finance.core.settings import Settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_finance_serve_answers_and_logs_json(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "finance.cli.main", "serve", "--port", str(port)],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
            ready = httpx.get(f"{base}/readyz", headers={"X-Request-ID": "ci-check-1"})
            assert ready.status_code == 200
            assert ready.json()["revision"] is not None
            assert ready.headers["x-request-id"] == "ci-check-1"
        finally:
            server.terminate()
            server.wait(timeout=15)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [r for r in records if r.get("logger") == "finance.access"]
    readyz = [r for r in access if r["path"] == "/readyz"]
    assert readyz[0]["request_id"] == "ci-check-1"
    assert readyz[0]["status"] == 200
    assert readyz[0]["duration_ms"] >= 0
