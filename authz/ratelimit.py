"""Per-client rate limits shared by every server process: fixed one-minute windows
counted in Redis when ``FINANCE_REDIS_URL`` is set, else in the database (an atomic
upsert in its own short transaction). Answers carry the IETF RateLimit header fields
(draft-ietf-httpapi-ratelimit-headers) and ``Retry-After`` when refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from authz.models import RateCounter

if TYPE_CHECKING:
    import redis

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


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision: ...


def _decision(count: int, limit: int, now: dt.datetime) -> RateDecision:
    reset = WINDOW_SECONDS - int(now.timestamp()) % WINDOW_SECONDS
    return RateDecision(count <= limit, limit, max(0, limit - count), reset)


class DatabaseRateLimiter:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite

    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision:
        window = int(now.timestamp()) // WINDOW_SECONDS
        table: Any = RateCounter.__table__
        insert = self._module.insert(table).values(key=key, window=window, count=1)
        upsert = insert.on_conflict_do_update(
            index_elements=[table.c.key, table.c.window], set_={"count": table.c.count + 1}
        ).returning(table.c.count)
        with self._engine.begin() as connection:
            count = int(connection.execute(upsert).scalar_one())
            if count == 1:  # first hit of a window: drop this key's stale windows
                connection.execute(
                    delete(table).where(table.c.key == key, table.c.window < window - 1)
                )
        return _decision(count, limit, now)


class RedisRateLimiter:
    def __init__(self, client: redis.Redis | str) -> None:
        import redis

        self._redis = redis.Redis.from_url(client) if isinstance(client, str) else client

    def hit(self, key: str, limit: int, now: dt.datetime) -> RateDecision:
        window = int(now.timestamp()) // WINDOW_SECONDS
        name = f"ratelimit:{key}:{window}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS * 2)
        count = int(pipe.execute()[0])
        return _decision(count, limit, now)
