"""``finance worker``: start a Celery worker (and optionally beat) for the platform.

The command replaces itself with ``celery -A workers.app worker``: the worker gets
``OMP_NUM_THREADS=1`` in its environment before the interpreter starts (OpenMP reads it
once, at load), and the CLI stays free of any import of ``workers``. The pool is always
threads; see ``workers/app.py`` for why a forking pool must not be used with LightGBM.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer


def worker(
    concurrency: Annotated[int, typer.Option(help="Task threads in this process.")] = 2,
    beat: Annotated[
        bool, typer.Option(help="Also run the beat scheduler (one per deployment).")
    ] = False,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    queues: Annotated[str, typer.Option(help="Comma-separated queues to consume.")] = "celery",
    hostname: Annotated[
        str | None, typer.Option(help="Worker node name (several per machine need distinct).")
    ] = None,
) -> None:
    """Start a Celery worker consuming the platform's task queue."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        f"--queues={queues}",
        # Gossip, mingle and heartbeats need broadcast exchanges, which the embedded
        # SQLAlchemy broker lacks; the platform does not use them.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if hostname:
        argv.append(f"--hostname={hostname}")
    if beat:
        argv.append("--beat")
    os.execve(sys.executable, argv, {**os.environ, "OMP_NUM_THREADS": "1"})
