"""Which Celery workers are running, for commands that may hand work to them.

On a broker that can broadcast (Redis, RabbitMQ) Celery's remote control answers: every
worker replies with the queues it consumes (``inspect().active_queues()``, the
``ping`` broadcast with the queue list in the reply) within a short timeout. The
embedded broker (kombu's SQLAlchemy transport) cannot broadcast: its virtual transport
keeps fanout bindings in each process's memory, so a ``ping`` from another process
reaches no worker. There every worker writes a heartbeat file under
``<data dir>/workers/`` naming its queues, rewritten every ``HEARTBEAT_SECONDS`` and
removed at a warm shutdown; a file younger than ``STALE_SECONDS`` is a running worker.
The embedded broker's file lives in the same data directory, so its workers share it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu.exceptions import OperationalError

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
PING_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class Presence:
    """The workers consuming a queue (empty when none), and how they were looked for."""

    workers: list[str]
    looked: str


def heartbeat_dir(data_dir: Path) -> Path:
    return data_dir / "workers"


def write_heartbeat(data_dir: Path, hostname: str, queues: list[str]) -> None:
    """Record that worker ``hostname`` is alive and consumes ``queues`` (atomic rename, so
    a reader never sees half a file)."""
    directory = heartbeat_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"hostname": hostname, "pid": os.getpid(), "queues": queues, "at": time.time()}
    partial = directory / f".{hostname}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(payload))
    partial.replace(directory / f"{hostname}.json")


def remove_heartbeat(data_dir: Path, hostname: str) -> None:
    (heartbeat_dir(data_dir) / f"{hostname}.json").unlink(missing_ok=True)


def heartbeat_consumers(data_dir: Path, queue: str, *, now: float | None = None) -> list[str]:
    """Workers with a fresh heartbeat that consume ``queue``."""
    now = time.time() if now is None else now
    found = []
    for path in sorted(heartbeat_dir(data_dir).glob("*.json")):
        try:
            beat = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # removed or replaced while listing
        if now - float(beat.get("at", 0)) <= STALE_SECONDS and queue in beat.get("queues", []):
            found.append(str(beat["hostname"]))
    return found


def can_broadcast(app: Any) -> bool:
    """Whether the app's broker delivers fanout messages between processes."""
    with app.connection_for_read() as connection:
        return "fanout" in connection.transport.implements.exchange_type


def find_workers(app: Any, data_dir: Path, queue: str, timeout: float = PING_TIMEOUT) -> Presence:
    """The workers of ``app``'s broker that consume ``queue``: asked by broadcast where the
    broker can, else read from the heartbeat files. An unreachable broker has none."""
    if not can_broadcast(app):
        return Presence(
            heartbeat_consumers(data_dir, queue),
            f"looked for fresh heartbeat files in {heartbeat_dir(data_dir)}: the embedded broker "
            "cannot broadcast a ping",
        )
    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except (OSError, OperationalError) as exc:
        return Presence([], f"the broker is unreachable: {exc}")
    workers = sorted(
        name
        for name, queues in replies.items()
        if any(q.get("name") == queue for q in queues or [])
    )
    return Presence(workers, f"asked every worker by broadcast, {timeout:g} s timeout")
