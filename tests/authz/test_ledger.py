"""The audit ledger: every change to a past entry (update, delete, reorder, truncate) is
reported by ``finance audit verify`` with the first broken link and exit status 1."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner

from authz.ledger import service as ledger
from authz.ledger.service import _HASHED_FIELDS, entry_hash
from finance.cli.main import app
from finance.core.db import transaction


def _fill(engine: Engine, count: int = 5) -> None:
    start = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    with transaction(engine) as session:
        for index in range(count):
            ledger.append(
                session,
                at=start + dt.timedelta(minutes=index),
                action="data_call",
                actor="client:bank-a",
                outcome="allowed" if index % 2 == 0 else "refused",
                client_id="bank-a",
                uscc="91410100MA00000018",
                consent_id="cns_x",
                categories=["tax"],
                date_from=dt.date(2025, 11, 1),
                date_to=dt.date(2026, 10, 31),
                reason="" if index % 2 == 0 else "rate_limited: the client's rate limit",
                rows_returned=12,
                latency_ms=3,
            )


def _verify() -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(app, ["audit", "verify", "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_intact_ledger_verifies(engine: Engine) -> None:
    _fill(engine)
    code, report = _verify()
    assert code == 0
    assert report == {"entries": 5, "intact": True, "broken_at": None, "reason": None}


def _update(connection: Connection) -> None:
    connection.execute(text("UPDATE authz_ledger SET rows_returned = 500 WHERE seq = 3"))


def _update_outcome(connection: Connection) -> None:
    connection.execute(text("UPDATE authz_ledger SET outcome = 'allowed' WHERE seq = 2"))


def _delete_middle(connection: Connection) -> None:
    connection.execute(text("DELETE FROM authz_ledger WHERE seq = 3"))


def _delete_tail(connection: Connection) -> None:
    connection.execute(text("DELETE FROM authz_ledger WHERE seq = 5"))


def _reorder(connection: Connection) -> None:
    for statement in (
        "UPDATE authz_ledger SET seq = -1 WHERE seq = 2",
        "UPDATE authz_ledger SET seq = 2 WHERE seq = 3",
        "UPDATE authz_ledger SET seq = 3 WHERE seq = -1",
    ):
        connection.execute(text(statement))


def _rehash_one(connection: Connection) -> None:
    # A forger who recomputes the edited entry's own hash still breaks the next link.
    entry = connection.execute(text("SELECT * FROM authz_ledger WHERE seq = 3")).mappings().one()
    fields = dict(entry)
    fields["rows_returned"] = 0
    forged = entry_hash(
        {
            name: (
                dt.datetime.fromisoformat(str(fields[name])).replace(tzinfo=dt.UTC)
                if name == "at" and not isinstance(fields[name], dt.datetime)
                else fields[name]
            )
            for name in _HASHED_FIELDS
        }
    )
    connection.execute(
        text("UPDATE authz_ledger SET rows_returned = 0, hash = :h WHERE seq = 3"), {"h": forged}
    )


def _append_without_head(connection: Connection) -> None:
    # A forged entry chained correctly onto the last one, but the head is not moved.
    last = dict(
        connection.execute(text("SELECT * FROM authz_ledger WHERE seq = 5")).mappings().one()
    )
    forged = {**last, "seq": 6, "prev_hash": last["hash"], "rows_returned": 999}
    forged["at"] = (
        last["at"]
        if isinstance(last["at"], dt.datetime)
        else dt.datetime.fromisoformat(str(last["at"])).replace(tzinfo=dt.UTC)
    )
    forged["hash"] = entry_hash({name: forged[name] for name in _HASHED_FIELDS})
    forged.pop("id", None)
    columns = ", ".join(forged)
    values = ", ".join(f":{name}" for name in forged)
    connection.execute(text(f"INSERT INTO authz_ledger ({columns}) VALUES ({values})"), forged)


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        (_update, 3),
        (_update_outcome, 2),
        (_delete_middle, 3),
        (_delete_tail, 5),
        (_reorder, 2),
        (_rehash_one, 4),
        (_append_without_head, 6),
    ],
)
def test_tampering_is_reported(
    engine: Engine, tamper: Callable[[Connection], None], broken_at: int
) -> None:
    _fill(engine)
    with engine.begin() as connection:
        tamper(connection)
    code, report = _verify()
    assert code == 1
    assert report["intact"] is False
    assert report["broken_at"] == broken_at


def test_verify_while_calls_are_being_recorded_reports_intact(engine: Engine) -> None:
    """``finance audit verify`` on a live ledger: appends committed during the walk are
    neither false breaks nor ignored tampering."""
    _fill(engine)
    stop = threading.Event()

    def keep_appending() -> None:
        while not stop.is_set():
            _fill(engine, 3)

    writer = threading.Thread(target=keep_appending)
    writer.start()
    try:
        reports: list[ledger.Verification] = []
        # At least 15 walks, and on until some appends have landed under them (the
        # appending thread may not have committed anything by the fifteenth).
        deadline = time.monotonic() + 30
        while len(reports) < 15 or (reports[-1].entries <= 5 and time.monotonic() < deadline):
            with transaction(engine) as session:
                reports.append(ledger.verify(session))
    finally:
        stop.set()
        writer.join()
    assert all(report.intact for report in reports), [r.broken for r in reports]
    assert reports[-1].entries > 5
