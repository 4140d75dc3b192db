"""A slow read in one data call holds up nothing else the same server process serves:
``/healthz`` and other data calls answer while it waits. Under a real uvicorn server (the
test client would run each request to its end).

The slow read is the database's: on PostgreSQL the call's table is locked by another
transaction (``LOCK TABLE``), so the call's query waits in the server; on SQLite (whose
readers a lock cannot stop in WAL mode) the reading connections' progress handler sleeps
in the first statement after the test asks for it, inside SQLite's execution of that
statement, wherever the statement runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, event, text

from finance.govdata.models import data_table
from tests.authz.support import BASE, BankClientKeys, World, data_token, dpop_proof, register_client
from tests.finance.test_serve import _free_port

STALL_S = 3.0


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The world's app under uvicorn on a free port."""
    port = _free_port()
    app: FastAPI = world.http.app  # type: ignore[assignment]
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _call(base: str, world: World, bank: BankClientKeys, access: str, path: str) -> httpx.Response:
    proof = dpop_proof(bank.dpop_key, "GET", BASE + path, now=world.now, access_token=access)
    headers = {"Authorization": f"DPoP {access}", "DPoP": proof}
    return httpx.get(base + path, headers=headers, timeout=30)


class SqliteStall:
    """Makes the next statement a reading connection executes take ``STALL_S``."""

    def __init__(self, engine: Engine) -> None:
        self.armed = threading.Event()
        self.stalled = threading.Event()
        engine.dispose()  # every reading connection from now on gets the handler
        event.listen(engine, "connect", self._install)

    def _install(self, dbapi_connection: Any, _record: Any) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        dbapi_connection.set_progress_handler(self._progress, 100)

    def _progress(self) -> int:
        if self.armed.is_set():
            self.armed.clear()
            self.stalled.set()
            time.sleep(STALL_S)
        return 0


def test_a_slow_read_does_not_hold_up_the_process(world: World, served: str) -> None:
    bank = register_client(world)
    _consent, token = data_token(world, bank, categories=["tax", "social_insurance"])
    access = token["access_token"]
    tax = f"/api/v1/data/enterprises/{world.uscc}/tax"
    social = f"/api/v1/data/enterprises/{world.uscc}/social_insurance"
    runtime = world.http.app.state.authz  # type: ignore[attr-defined]
    reading_engine: Engine = runtime.reads.engine
    assert _call(served, world, bank, access, tax).status_code == 200

    with ThreadPoolExecutor(max_workers=1) as pool:
        if reading_engine.dialect.name == "postgresql":
            with world.sessions() as locker:
                locker.execute(
                    text(f"LOCK TABLE {data_table('tax').name} IN ACCESS EXCLUSIVE MODE")
                )
                slow: Future[httpx.Response] = pool.submit(_call, served, world, bank, access, tax)
                _wait_until_waiting_on_the_lock(locker)
                _others_answer(served, world, bank, access, social, slow)
                locker.rollback()
        else:
            stall = SqliteStall(reading_engine)
            stall.armed.set()
            slow = pool.submit(_call, served, world, bank, access, tax)
            assert stall.stalled.wait(10), "the data call never read"
            _others_answer(served, world, bank, access, None, slow)
        answer = slow.result(timeout=30)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == 12


def _wait_until_waiting_on_the_lock(locker: Any) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = locker.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        ).scalar_one()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the data call never waited on the lock")


def _others_answer(
    base: str,
    world: World,
    bank: BankClientKeys,
    access: str,
    other_call: str | None,
    slow: Future[httpx.Response],
) -> None:
    """While ``slow`` waits, the process answers ``/healthz`` (and another data call,
    when one can run beside the stall) at once."""
    for _ in range(5):
        started = time.monotonic()
        assert httpx.get(base + "/healthz", timeout=30).status_code == 200
        assert time.monotonic() - started < 1.0
    if other_call is not None:
        started = time.monotonic()
        answer = _call(base, world, bank, access, other_call)
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - started < 1.0
    assert not slow.done(), "the slow call was not slow: the test proves nothing"
