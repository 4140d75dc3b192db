"""The key ring's reload: unchanged keys keep the snapshot (and the tokens it has
verified); a rotation builds a new one, under which tokens signed with the replaced key
still verify while it is published, and those of a retired key no longer do."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from authz.oauth import jwt_access_token, keys
from authz.oauth.jwt_access_token import AccessTokenError
from finance.core.db import transaction

SECRET = "test-secret-key-for-the-key-ring-0123456789"
ISSUER = "https://platform.example"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _token(ring: keys.KeyRing) -> str:
    token, _jti, _expires = jwt_access_token.issue(
        ring,
        issuer=ISSUER,
        client_id="c",
        subject="c",
        scope="data:tax",
        now=NOW,
        jkt=None,
        consent_id=None,
    )
    return token


def _reload(ring: keys.KeyRing) -> keys.KeyRingSnapshot:
    ring._loaded_at -= keys.CACHE_SECONDS + 1  # as if the cache had aged
    return ring.snapshot()


def _rotate(engine: Engine, minutes: int) -> None:
    with transaction(engine) as session:
        keys.rotate(session, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes), SECRET)


def test_a_reload_without_rotation_keeps_the_snapshot(engine: Engine) -> None:
    ring = keys.KeyRing(engine, SECRET)
    first = ring.snapshot()
    token = _token(ring)
    jwt_access_token.verify(ring, token, issuer=ISSUER, now=NOW)
    assert token in first.verified_tokens
    assert _reload(ring) is first


def test_rotation_rebuilds_and_retires_in_turn(engine: Engine) -> None:
    ring = keys.KeyRing(engine, SECRET)
    first = ring.snapshot()
    old = _token(ring)
    _rotate(engine, 1)
    second = _reload(ring)
    assert second is not first
    assert second.signing.kid != first.signing.kid
    assert old not in second.verified_tokens
    jwt_access_token.verify(ring, old, issuer=ISSUER, now=NOW)  # still published
    _rotate(engine, 2)  # retires the first key
    _reload(ring)
    with pytest.raises(AccessTokenError):
        jwt_access_token.verify(ring, old, issuer=ISSUER, now=NOW)
