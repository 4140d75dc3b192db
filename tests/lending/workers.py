"""Real ``finance worker`` processes for the lending tests, started, stopped and killed
on demand, on a queue of the test's own (the decision tasks go there through
``FINANCE_LENDING_QUEUE``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
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
        self.lines: dict[int, list[str]] = {}

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
        lines: list[str] = []
        self.lines[process.pid] = lines

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)

        threading.Thread(target=read, daemon=True).start()
        return process

    def received(self, process: subprocess.Popen[str], task: str) -> bool:
        """Whether the worker's log says it received ``task``."""
        return any(
            f"Task {task}[" in line and "received" in line for line in self.lines[process.pid]
        )

    def kill(self, process: subprocess.Popen[str]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for pid, lines in self.lines.items():
            print(f"--- worker {pid}\n" + "".join(lines))  # noqa: T201 - shown on failure
