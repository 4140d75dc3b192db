"""Per-client rate limits shared by every server process: fixed one-minute windows
counted in Redis when ``FINANCE_REDIS_URL`` is set, else in the database (an atomic
upsert in its own short transaction). Answers carry the IETF RateLimit header fields
(draft-ietf-httpapi-ratelimit-headers) and ``Retry-After`` when refused.

A data call's DPoP proof ``jti`` (RFC 9449 §11.1) is remembered by the same store in the
same trip (``admit``): one Redis pipeline (``SET NX`` with an expiry), or the same short
database transaction, so a proof counts as used even when the call is refused later."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from authz.ledger.writer import LedgerWriter
from authz.models import RateCounter, UsedJti
from authz.sql import insert_if_absent_statement

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Policy": f'"per-client";q={self.limit};w={WINDOW_SECONDS}',
            "RateLimit": f'"per-client";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


@dataclass(frozen=True)
class OneTimeId:
    """A one-time identifier (its digest) to remember until ``expires_at``."""

    digest: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Admission:
    decision: RateDecision
    fresh: bool  # the one-time identifier had not been seen (True when none was given)


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision: ...

    def admit(self, key: str, limit: int, now: dt.datetime, once: OneTimeId | None) -> Admission:
        """Count a hit and remember ``once``, in one trip to the shared store."""
        ...


def _decision(count: int, limit: int, now: dt.datetime) -> RateDecision:
    reset = WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS
    return RateDecision(count <= limit, limit, max(0, limit - count), reset)


_counters: Any = RateCounter.__table__
_DROP_STALE = delete(_counters).where(
    _counters.c.key == bindparam("key"), _counters.c.window < bindparam("stale")
)


class DatabaseRateLimiter:
    """Counters in ``authz_rate_counters``. With a ledger writer, ``admit`` runs in the
    writer's next batch (one transaction for the admissions of many calls)."""

    def __init__(self, engine: Engine, writer: LedgerWriter | None = None) -> None:
        self._engine = engine
        self._writer = writer
        dialect = engine.dialect.name
        module: Any = postgresql if dialect == "postgresql" else sqlite
        insert = module.insert(_counters).values(
            key=bindparam("key"), window=bindparam("window"), count=1
        )
        self._upsert = insert.on_conflict_do_update(
            index_elements=[_counters.c.key, _counters.c.window],
            set_={"count": _counters.c.count + 1},
        ).returning(_counters.c.count)
        self._remember = insert_if_absent_statement(dialect, UsedJti.__table__)

    def _hit(self, connection: Connection, key: str, limit: int, now: dt.datetime) -> RateDecision:
        window = int(now.timestamp()) // WINDOW_SECONDS
        count = int(connection.execute(self._upsert, {"key": key, "window": window}).scalar_one())
        if count == 1:  # first hit of a window: drop this key's stale windows
            connection.execute(_DROP_STALE, {"key": key, "stale": window - 1})
        return _decision(count, limit, now)

    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision:
        with self._engine.begin() as connection:
            return self._hit(connection, key, limit, now)

    def admit(self, key: str, limit: int, now: dt.datetime, once: OneTimeId | None) -> Admission:
        with self._engine.begin() as connection:
            decision = self._hit(connection, key, limit, now)
            fresh = once is None or (
                connection.execute(
                    self._remember, {"digest": once.digest, "expires_at": once.expires_at}
                ).first()
                is not None
            )
        return Admission(decision, fresh)


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision:
        return self.admit(key, limit, now, None).decision

    def admit(self, key: str, limit: int, now: dt.datetime, once: OneTimeId | None) -> Admission:
        window = int(now.timestamp()) // WINDOW_SECONDS
        name = f"ratelimit:{key}:{window}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS * 2)
        if once is not None:
            ttl_ms = max(1000, int((once.expires_at - now).total_seconds() * 1000))
            pipe.set("jti:" + once.digest, b"1", nx=True, px=ttl_ms)
        replies = pipe.execute()
        fresh = once is None or bool(replies[2])
        return Admission(_decision(int(replies[0]), limit, now), fresh)
