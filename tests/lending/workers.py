"""Real ``finance worker`` processes for the lending tests, started, stopped and killed
on demand, on a queue of the test's own (the decision tasks go there through
``FINANCE_LENDING_QUEUE``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from finance.core.settings import get_settings

FINANCE = Path(sys.executable).with_name("finance")


class Workers:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queue = f"lending-{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv("FINANCE_LENDING_QUEUE", self.queue)
        get_settings.cache_clear()
        get_settings().resolved_data_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[str]] = []
        self.outputs: list[str] = []

    def start(self, *, beat: bool = False, concurrency: int = 2) -> subprocess.Popen[str]:
        argv = [
            str(FINANCE),
            "worker",
            "--concurrency",
            str(concurrency),
            "--queues",
            self.queue,
            "--loglevel",
            "INFO",
            "--hostname",
            f"w{len(self.processes)}-{uuid.uuid4().hex[:6]}@%h",
        ]
        if beat:
            argv.append("--beat")
        process = subprocess.Popen(
            argv,
            env={**os.environ},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[str]) -> None:
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        self.outputs.append(output)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    output, _ = process.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    output, _ = process.communicate()
                self.outputs.append(output)
        for output in self.outputs:
            print(output)  # noqa: T201 - shown by pytest only when the test fails
