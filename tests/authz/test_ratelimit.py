"""Per-client rate limits hold across server processes: two limiters (as two processes
would have) share one count, in the database and in Redis."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
import redis
from sqlalchemy import Engine

from authz.ratelimit import (
    AdmissionRequest,
    DatabaseRateLimiter,
    OneTimeId,
    RateLimiter,
    RedisRateLimiter,
)
from finance.core.db import make_engine

REDIS_URL = "redis://127.0.0.1:6379/15"
START = dt.datetime(2026, 11, 22, 8, 0, 0, tzinfo=dt.UTC)


def _redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL).ping())
    except redis.RedisError:
        return False


def _shared(first: RateLimiter, second: RateLimiter) -> None:
    key = "client:" + secrets.token_hex(4)
    decisions = [
        limiter.hit(key, 3, START + dt.timedelta(seconds=i))
        for i, limiter in enumerate([first, second, first, second])
    ]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[2].remaining == 0
    assert decisions[3].headers()["Retry-After"] == str(60 - 3)
    assert first.hit(key, 3, START + dt.timedelta(minutes=1)).allowed  # a new window


def test_database_limiter_is_shared_across_processes(engine: Engine) -> None:
    other_process = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        _shared(DatabaseRateLimiter(engine), DatabaseRateLimiter(other_process))
    finally:
        other_process.dispose()


@pytest.mark.integration
@pytest.mark.skipif(not _redis_available(), reason="no Redis at 127.0.0.1:6379")
def test_redis_limiter_is_shared_across_processes() -> None:
    _shared(RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL))


def _one_use(first: RateLimiter, second: RateLimiter) -> None:
    """A DPoP proof's jti is admitted once, whichever process sees it first."""
    key = "client:" + secrets.token_hex(4)
    once = OneTimeId(secrets.token_hex(32), START + dt.timedelta(minutes=2))
    admitted = first.admit(key, 10, START, once)
    replayed = second.admit(key, 10, START + dt.timedelta(seconds=1), once)
    assert admitted.fresh
    assert admitted.decision.allowed
    assert not replayed.fresh
    assert replayed.decision.remaining == 8  # the replay still counted against the limit
    assert first.admit(key, 10, START, None).fresh  # nothing to remember


def test_database_store_admits_a_jti_once(engine: Engine) -> None:
    other_process = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        _one_use(DatabaseRateLimiter(engine), DatabaseRateLimiter(other_process))
    finally:
        other_process.dispose()


@pytest.mark.integration
@pytest.mark.skipif(not _redis_available(), reason="no Redis at 127.0.0.1:6379")
def test_redis_store_admits_a_jti_once() -> None:
    _one_use(RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL))


def _one_batch(limiter: RateLimiter, engine: Engine) -> None:
    """The admissions of one group commit, in order: each hit takes its own place in the
    count, a jti seen earlier in the same batch is a replay, and a later window starts
    again from one."""
    key, other = "client:" + secrets.token_hex(4), "client:" + secrets.token_hex(4)
    once = OneTimeId(secrets.token_hex(32), START + dt.timedelta(minutes=2))
    fresh = OneTimeId(secrets.token_hex(32), START + dt.timedelta(minutes=2))
    requests = [
        AdmissionRequest(key, 2, START, once),
        AdmissionRequest(other, 2, START),
        AdmissionRequest(key, 2, START, once),
        AdmissionRequest(key, 2, START, fresh),
        AdmissionRequest(key, 2, START + dt.timedelta(minutes=1)),
    ]
    with engine.begin() as connection:
        admissions = limiter.admit_many(connection, requests)
    assert [a.decision.allowed for a in admissions] == [True, True, True, False, True]
    assert [a.decision.remaining for a in admissions] == [1, 1, 0, 0, 1]
    assert [a.fresh for a in admissions] == [True, True, False, True, True]
    # Committed: a later batch sees both the counts and the jtis.
    with engine.begin() as connection:
        later = limiter.admit_many(connection, [AdmissionRequest(key, 2, START, fresh)])
    assert not later[0].fresh
    assert not later[0].decision.allowed


def test_database_store_admits_a_batch_in_order(engine: Engine) -> None:
    _one_batch(DatabaseRateLimiter(engine), engine)


@pytest.mark.integration
@pytest.mark.skipif(not _redis_available(), reason="no Redis at 127.0.0.1:6379")
def test_redis_store_admits_a_batch_in_order(engine: Engine) -> None:
    _one_batch(RedisRateLimiter(REDIS_URL), engine)
