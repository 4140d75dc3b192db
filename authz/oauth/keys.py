"""The platform's rotating signing key set (RFC 7517 JWK Set, ES256 per RFC 7518 §3.4).

The newest unretired key signs access tokens and webhooks; every unretired key is
published at the JWKS endpoint so tokens signed just before a rotation still verify.
Each process caches the set for a few seconds, so a rotation reaches every server
process within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, KeySet
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from authz.models import SigningKey
from finance.core.db import transaction

ALGORITHM = "ES256"
CACHE_SECONDS = 5.0


def new_signing_key(session: Session, now: dt.datetime) -> SigningKey:
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    key = ECKey.generate_key(
        "P-256", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True
    )
    row = SigningKey(kid=kid, alg=ALGORITHM, private_jwk=key.as_dict(private=True), created_at=now)
    session.add(row)
    session.flush()
    return row


def rotate(session: Session, now: dt.datetime) -> SigningKey:
    """Add a new signing key; keys older than the one it replaces are retired (the one it
    replaces stays published until the next rotation, outliving its tokens)."""
    live = list(
        session.scalars(
            select(SigningKey)
            .where(SigningKey.retired_at.is_(None))
            .order_by(SigningKey.created_at.desc())
        )
    )
    for old in live[1:]:
        old.retired_at = now
    return new_signing_key(session, now)


@dataclass(frozen=True)
class KeyRingSnapshot:
    signing: ECKey
    verifying: KeySet
    public_jwks: dict[str, Any]


class KeyRing:
    """The cached key set of one process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._snapshot: KeyRingSnapshot | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        self._snapshot = None

    def snapshot(self) -> KeyRingSnapshot:
        current = self._snapshot
        if current is not None and time.monotonic() - self._loaded_at < CACHE_SECONDS:
            return current
        with self._lock:
            if self._snapshot is not None and time.monotonic() - self._loaded_at < CACHE_SECONDS:
                return self._snapshot
            self._snapshot = self._load()
            self._loaded_at = time.monotonic()
            return self._snapshot

    def _load(self) -> KeyRingSnapshot:
        with transaction(self._engine) as session:
            rows = list(
                session.scalars(
                    select(SigningKey)
                    .where(SigningKey.retired_at.is_(None))
                    .order_by(SigningKey.created_at.desc())
                )
            )
            if not rows:
                rows = [new_signing_key(session, dt.datetime.now(dt.UTC))]
            private = [ECKey.import_key(row.private_jwk) for row in rows]
        public: list[Any] = [ECKey.import_key(key.as_dict(private=False)) for key in private]
        return KeyRingSnapshot(
            signing=private[0],
            verifying=KeySet(list(public)),
            public_jwks={"keys": [key.as_dict(private=False) for key in public]},
        )
