"""Per-client rate limits shared by every server process: fixed one-minute windows
counted in Redis when ``FINANCE_REDIS_URL`` is set, else in the database (an atomic
upsert). Answers carry the IETF RateLimit header fields
(draft-ietf-httpapi-ratelimit-headers) and ``Retry-After`` when refused.

A data call's DPoP proof ``jti`` (RFC 9449 §11.1) is remembered by the same store in the
same trip (``admit_many``): one Redis pipeline (``INCRBY`` per client, ``SET NX`` with an
expiry per proof), or the ledger writer's batch transaction, so a proof counts as used
even when the call is refused. ``admit_many`` takes the admissions of many calls at
once, in order: the writer hands it every data call of one group commit."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from authz.models import RateCounter, UsedJti

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
class AdmissionRequest:
    """One hit on ``key`` (allowed ``limit`` a window) at ``now``, and a one-time
    identifier to remember, if any."""

    key: str
    limit: int
    now: dt.datetime
    once: OneTimeId | None = None


@dataclass(frozen=True)
class Admission:
    decision: RateDecision
    fresh: bool  # the one-time identifier had not been seen (True when none was given)


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision: ...

    def admit(self, key: str, limit: int, now: dt.datetime, once: OneTimeId | None) -> Admission:
        """Count a hit and remember ``once``, in one trip to the shared store."""
        ...

    def admit_many(
        self, connection: Connection, requests: Sequence[AdmissionRequest]
    ) -> list[Admission]:
        """``admit`` for each request, in order, in one trip: in ``connection``'s
        transaction (the ledger writer's) when the store is the database."""
        ...


def _window(now: dt.datetime) -> int:
    return int(now.timestamp()) // WINDOW_SECONDS


def _decision(count: int, limit: int, now: dt.datetime) -> RateDecision:
    reset = WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS
    return RateDecision(count <= limit, limit, max(0, limit - count), reset)


_counters: Any = RateCounter.__table__
_used: Any = UsedJti.__table__
_SEEN = select(_used.c.digest).where(_used.c.digest.in_(bindparam("digests", expanding=True)))
_DROP_STALE = delete(_counters).where(
    _counters.c.key == bindparam("key"), _counters.c.window < bindparam("stale")
)


class DatabaseRateLimiter:
    """Counters in ``authz_rate_counters``, used ``jti``s in ``authz_used_jtis``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        module: Any = postgresql if dialect == "postgresql" else sqlite
        insert = module.insert(_counters).values(
            key=bindparam("key"), window=bindparam("window"), count=bindparam("hits")
        )
        self._upsert = insert.on_conflict_do_update(
            index_elements=[_counters.c.key, _counters.c.window],
            set_={"count": _counters.c.count + insert.excluded.count},
        ).returning(_counters.c.count)
        self._remember = module.insert(UsedJti.__table__).on_conflict_do_nothing()

    def _count(self, connection: Connection, key: str, window: int, hits: int) -> int:
        """Add ``hits`` to ``key``'s count in ``window``; the count after them."""
        values = {"key": key, "window": window, "hits": hits}
        count = int(connection.execute(self._upsert, values).scalar_one())
        if count == hits:  # first hits of a window: drop this key's stale windows
            connection.execute(_DROP_STALE, {"key": key, "stale": window - 1})
        return count

    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision:
        with self._engine.begin() as connection:
            return _decision(self._count(connection, key, _window(now), 1), limit, now)

    def admit(self, key: str, limit: int, now: dt.datetime, once: OneTimeId | None) -> Admission:
        with self._engine.begin() as connection:
            return self.admit_many(connection, [AdmissionRequest(key, limit, now, once)])[0]

    def admit_many(
        self, connection: Connection, requests: Sequence[AdmissionRequest]
    ) -> list[Admission]:
        # One upsert per key and window for all its hits; each request gets its place.
        slots = [(r.key, _window(r.now)) for r in requests]
        hits = Counter(slots)
        counts: dict[tuple[str, int], int] = {}
        for (key, window), number in hits.items():
            counts[(key, window)] = self._count(connection, key, window, number) - number
        digests = [r.once.digest for r in requests if r.once is not None]
        seen = set(connection.scalars(_SEEN, {"digests": digests})) if digests else set()
        remember = []
        admissions = []
        for request, slot in zip(requests, slots, strict=True):
            counts[slot] += 1
            fresh = True
            if request.once is not None:
                fresh = request.once.digest not in seen
                if fresh:
                    seen.add(request.once.digest)
                    remember.append(
                        {"digest": request.once.digest, "expires_at": request.once.expires_at}
                    )
            admissions.append(Admission(_decision(counts[slot], request.limit, request.now), fresh))
        if remember:
            connection.execute(self._remember, remember)
        return admissions


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision:
        return self.admit(key, limit, now, None).decision

    def admit(self, key: str, limit: int, now: dt.datetime, once: OneTimeId | None) -> Admission:
        return self._admit_many([AdmissionRequest(key, limit, now, once)])[0]

    def admit_many(
        self, connection: Connection, requests: Sequence[AdmissionRequest]
    ) -> list[Admission]:
        return self._admit_many(requests)

    def _admit_many(self, requests: Sequence[AdmissionRequest]) -> list[Admission]:
        names = [f"ratelimit:{r.key}:{_window(r.now)}" for r in requests]
        hits = Counter(names)
        pipe = self._redis.pipeline(transaction=False)
        for name, number in hits.items():
            pipe.incrby(name, number)
            pipe.expire(name, WINDOW_SECONDS * 2)
        for request in requests:
            if request.once is not None:
                ttl_ms = int((request.once.expires_at - request.now).total_seconds() * 1000)
                pipe.set("jti:" + request.once.digest, b"1", nx=True, px=max(1000, ttl_ms))
        replies = iter(pipe.execute())
        counts = {}
        for name, number in hits.items():
            counts[name] = int(next(replies)) - number
            next(replies)  # EXPIRE
        admissions = []
        for request, name in zip(requests, names, strict=True):
            counts[name] += 1
            fresh = request.once is None or bool(next(replies))
            admissions.append(Admission(_decision(counts[name], request.limit, request.now), fresh))
        return admissions
