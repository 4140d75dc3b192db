"""Appending to and verifying the hash-chained audit ledger.

Each entry holds the SHA-256 of the previous entry's hash and its own fields, so editing,
deleting or reordering any past entry breaks the chain at that point. Appends serialise
on the single ``authz_ledger_head`` row, which also pins the newest entry so deleting the
tail is detected too. Consent changes append inside their own transaction (``append``);
data calls append through the process's group-commit writer (``writer.LedgerWriter``,
``append_batch``), which bumps the head once for a batch of entries.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from authz.models import DailyCalls, LedgerEntry, LedgerHead
from authz.ratelimit import Admission, AdmissionRequest

GENESIS = "0" * 64
_HASHED_FIELDS = (
    "seq",
    "at",
    "request_id",
    "action",
    "actor",
    "client_id",
    "uscc",
    "consent_id",
    "categories",
    "date_from",
    "date_to",
    "outcome",
    "reason",
    "rows_returned",
    "latency_ms",
    "prev_hash",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def entry_hash(fields: dict[str, Any]) -> str:
    payload = json.dumps(
        [_canonical(fields[name]) for name in _HASHED_FIELDS],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


_table: Any = LedgerEntry.__table__
_head: Any = LedgerHead.__table__
_BUMP_HEAD = (
    update(_head)
    .where(_head.c.id == 1)
    .values(seq=_head.c.seq + bindparam("entries"))
    .returning(_head.c.seq, _head.c.hash)
)
_SET_HEAD = update(_head).where(_head.c.id == 1).values(hash=bindparam("new_hash"))
_INSERT = insert(_table)
_ALLOWED_SINCE = select(func.count()).where(
    _table.c.consent_id == bindparam("consent_id"),
    _table.c.action == "data_call",
    _table.c.outcome == "allowed",
    _table.c.at >= bindparam("since", type_=LedgerEntry.__table__.c.at.type),
)


def append(
    session: Session,
    *,
    at: dt.datetime,
    action: str,
    actor: str,
    outcome: str,
    request_id: str | None = None,
    client_id: str | None = None,
    uscc: str | None = None,
    consent_id: str | None = None,
    categories: Iterable[str] = (),
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    reason: str = "",
    rows_returned: int = 0,
    latency_ms: int = 0,
) -> str:
    """Append one entry and return its hash. Locks the head row until the caller's
    transaction ends."""
    fields = entry_fields(
        at=at,
        action=action,
        actor=actor,
        outcome=outcome,
        request_id=request_id,
        client_id=client_id,
        uscc=uscc,
        consent_id=consent_id,
        categories=categories,
        date_from=date_from,
        date_to=date_to,
        reason=reason,
        rows_returned=rows_returned,
        latency_ms=latency_ms,
    )
    seq, prev_hash = session.execute(_BUMP_HEAD, {"entries": 1}).one()
    fields["seq"], fields["prev_hash"] = seq, prev_hash
    digest = entry_hash(fields)
    session.execute(_INSERT, {**fields, "hash": digest})
    session.execute(_SET_HEAD, {"new_hash": digest})
    return digest


def entry_fields(
    *,
    at: dt.datetime,
    action: str,
    actor: str,
    outcome: str,
    request_id: str | None = None,
    client_id: str | None = None,
    uscc: str | None = None,
    consent_id: str | None = None,
    categories: Iterable[str] = (),
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    reason: str = "",
    rows_returned: int = 0,
    latency_ms: int = 0,
) -> dict[str, Any]:
    """An entry's own fields, before it has a place in the chain."""
    return {
        "at": at.astimezone(dt.UTC),
        "request_id": request_id,
        "action": action,
        "actor": actor,
        "client_id": client_id,
        "uscc": uscc,
        "consent_id": consent_id,
        "categories": " ".join(sorted(categories)),
        "date_from": date_from,
        "date_to": date_to,
        "outcome": outcome,
        "reason": reason[:200],
        "rows_returned": rows_returned,
        "latency_ms": latency_ms,
    }


@dataclass(frozen=True)
class DailyLimit:
    """An allowed data call counts against its consent's calls for ``day``."""

    consent_id: str
    day: dt.date
    limit: int
    refusal: str  # the entry's reason when the limit is reached


@dataclass(kw_only=True)
class Pending:
    """Work handed to the group-commit writer, and whether it is done: a thread waits on
    ``done``; a coroutine awaits ``future`` on its ``loop``."""

    error: BaseException | None = None
    settled: bool = False  # committed, or failed with ``error``
    done: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class PendingEntry(Pending):
    """One ledger entry for the group-commit writer, and what became of it:
    ``refused_by`` names what turned an allowed call into a refused one (its rate limit,
    a replayed proof, or the daily limit), if anything did."""

    fields: dict[str, Any]
    daily_limit: DailyLimit | None = None
    refused_by: str | None = None


@dataclass
class PendingCall(PendingEntry):
    """A data call's entry with its admission: the client's rate limit counted and the
    DPoP proof's ``jti`` remembered in the batch's transaction, before the entry is
    chained. A call over its rate limit, or with a replayed proof, is recorded with the
    given reason whatever it was going to be."""

    admission: AdmissionRequest | None = None
    rate_refusal: str = ""
    replay_refusal: str = ""
    admitted: Admission | None = None


Admit = Callable[[Connection, Sequence[AdmissionRequest]], list[Admission]]


def _refuse(fields: dict[str, Any], reason: str) -> None:
    fields["outcome"], fields["reason"], fields["rows_returned"] = "refused", reason[:200], 0


_calls: Any = DailyCalls.__table__
_CALLS_SO_FAR = select(_calls.c.consent_id, _calls.c.day, _calls.c.calls).where(
    _calls.c.consent_id.in_(bindparam("consents", expanding=True)),
    _calls.c.day.in_(bindparam("days", expanding=True)),
)
_SET_CALLS: dict[str, Any] = {}


def _set_calls_statement(dialect: str) -> Any:
    """Set a consent's count of allowed calls for a day (inserting its row if new)."""
    statement = _SET_CALLS.get(dialect)
    if statement is None:
        module: Any = postgresql if dialect == "postgresql" else sqlite
        insert_one = module.insert(_calls)
        statement = insert_one.on_conflict_do_update(
            index_elements=[_calls.c.consent_id, _calls.c.day],
            set_={"calls": insert_one.excluded.calls},
        )
        _SET_CALLS[dialect] = statement
    return statement


def _count_calls(
    connection: Connection, entries: list[tuple[PendingEntry, dict[str, Any]]]
) -> None:
    """Count the allowed calls among ``entries`` against their consents' daily limits,
    in order; a call over its limit is refused instead. Two statements for the batch:
    the counts so far, then the new ones. Exact: only these batches write the counts,
    and each holds the ledger head's lock (taken first) until it commits."""
    limited = [
        (entry, fields, entry.daily_limit)
        for entry, fields in entries
        if entry.daily_limit is not None and fields["outcome"] == "allowed"
    ]
    if not limited:
        return
    consents = sorted({limit.consent_id for _, _, limit in limited})
    days = sorted({limit.day for _, _, limit in limited})
    calls: dict[tuple[str, dt.date], int] = {
        (consent_id, day): count
        for consent_id, day, count in connection.execute(
            _CALLS_SO_FAR, {"consents": consents, "days": days}
        )
    }
    changed = set()
    for entry, fields, limit in limited:
        key = (limit.consent_id, limit.day)
        so_far = calls.get(key, 0)
        if so_far < limit.limit:
            calls[key] = so_far + 1
            changed.add(key)
        else:
            entry.refused_by = "daily_limit"
            _refuse(fields, limit.refusal)
    if changed:
        connection.execute(
            _set_calls_statement(connection.dialect.name),
            [{"consent_id": c, "day": d, "calls": calls[(c, d)]} for c, d in sorted(changed)],
        )


def append_batch(
    connection: Connection, batch: Sequence[PendingEntry], admit: Admit | None = None
) -> None:
    """Append the entries of ``batch`` in order, in the caller's transaction: one head
    bump for all of them, then the data calls admitted (``admit``: their rate limits and
    proofs, in one trip), then each allowed call counted against its daily limit (or
    refused), then the entries chained and inserted. The head row stays locked until the
    transaction ends, so the chain is one chain across every process."""
    last_seq, prev_hash = connection.execute(_BUMP_HEAD, {"entries": len(batch)}).one()
    calls = [e for e in batch if isinstance(e, PendingCall) and e.admission is not None]
    if calls:
        if admit is None:
            raise ValueError("data calls with admissions need an admitting store")
        admissions = admit(connection, [c.admission for c in calls if c.admission])
        for call, admission in zip(calls, admissions, strict=True):
            call.admitted = admission
    prepared = []
    for entry in batch:
        entry.refused_by = None
        fields = dict(entry.fields)
        if isinstance(entry, PendingCall) and (admitted := entry.admitted) is not None:
            if not admitted.decision.allowed:
                entry.refused_by = "rate_limit"
                _refuse(fields, entry.rate_refusal)
            elif not admitted.fresh:
                entry.refused_by = "replay"
                _refuse(fields, entry.replay_refusal)
        prepared.append((entry, fields))
    _count_calls(connection, prepared)
    rows = []
    for offset, (_entry, fields) in enumerate(prepared):
        fields["seq"] = last_seq - len(batch) + 1 + offset
        fields["prev_hash"] = prev_hash
        fields["hash"] = prev_hash = entry_hash(fields)
        rows.append(fields)
    connection.execute(_INSERT, rows)
    connection.execute(_SET_HEAD, {"new_hash": prev_hash})


@dataclass(frozen=True)
class BrokenLink:
    seq: int | None
    reason: str


@dataclass(frozen=True)
class Verification:
    entries: int
    broken: BrokenLink | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _rows(session: Session) -> Iterator[LedgerEntry]:
    yield from session.scalars(
        select(LedgerEntry).order_by(LedgerEntry.seq).execution_options(yield_per=2000)
    )


def _current_head(session: Session) -> tuple[int, str] | None:
    """The head row as the database has it now (not the session's cached copy)."""
    row = session.execute(
        select(LedgerHead.seq, LedgerHead.hash).where(LedgerHead.id == 1)
    ).one_or_none()
    return None if row is None else (int(row.seq), str(row.hash))


def verify(session: Session) -> Verification:
    """Walk the chain from the genesis and report the first broken link.

    Safe on a live ledger: the head is read before the walk, so every entry up to it was
    committed before the walk began, and entries appended while it runs are accepted only
    if the head has moved past them when the walk ends (an append bumps the head in the
    same transaction). Removed trailing entries, or entries added without moving the
    head, are reported."""
    head_before = _current_head(session)
    expected_seq, expected_prev, count = 1, GENESIS, 0
    # The head of an empty ledger (seq 0) names the genesis hash.
    hash_at_head: str | None = GENESIS if head_before is not None and head_before[0] == 0 else None
    for entry in _rows(session):
        count += 1
        if entry.seq != expected_seq:
            return Verification(count, BrokenLink(expected_seq, f"entry {expected_seq} is missing"))
        if entry.prev_hash != expected_prev:
            return Verification(
                count,
                BrokenLink(entry.seq, "prev_hash does not match the previous entry's hash"),
            )
        fields = {name: getattr(entry, name) for name in _HASHED_FIELDS}
        if entry_hash(fields) != entry.hash:
            return Verification(count, BrokenLink(entry.seq, "entry altered: hash mismatch"))
        if head_before is not None and entry.seq == head_before[0]:
            hash_at_head = entry.hash
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    last_seq = expected_seq - 1
    if head_before is None:
        if count:
            return Verification(count, BrokenLink(1, "entries exist but the ledger head is gone"))
        return Verification(0, None)
    if last_seq < head_before[0] or hash_at_head != head_before[1]:
        return Verification(
            count, BrokenLink(expected_seq, "entries after the last one found were removed")
        )
    if last_seq > head_before[0]:
        head_after = _current_head(session)
        if head_after is None or head_after[0] < last_seq:
            return Verification(
                count, BrokenLink(head_before[0] + 1, "entries were added without moving the head")
            )
    return Verification(count, None)


def search(
    query: Select[LedgerEntry],
    *,
    uscc: str | None = None,
    client_id: str | None = None,
    consent_id: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Select[LedgerEntry]:
    for column, value in (
        (LedgerEntry.uscc, uscc),
        (LedgerEntry.client_id, client_id),
        (LedgerEntry.consent_id, consent_id),
        (LedgerEntry.action, action),
        (LedgerEntry.outcome, outcome),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(LedgerEntry.at >= since)
    if until is not None:
        query = query.where(LedgerEntry.at < until)
    return query


def allowed_calls_since(session: Session, consent_id: str, since: dt.datetime) -> int:
    return int(session.scalar(_ALLOWED_SINCE, {"consent_id": consent_id, "since": since}) or 0)
