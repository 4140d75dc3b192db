"""The platform's rotating signing key set (RFC 7517 JWK Set, ES256 per RFC 7518 §3.4).

Private keys are stored sealed (Fernet) under a key derived from ``FINANCE_SECRET_KEY``.
The newest unretired key signs access tokens and webhooks; every unretired key is
published at the JWKS endpoint so tokens signed just before a rotation still verify.
Each process caches the set for a few seconds, so a rotation reaches every server
process within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from authz.models import SigningKey
from finance.core.db import transaction
from finance.core.settings import get_settings

ALGORITHM = "ES256"
CACHE_SECONDS = 5.0


def _fernet(secret: str) -> Fernet:
    """Private keys are stored encrypted under a key derived from FINANCE_SECRET_KEY."""
    derived = hashlib.sha256(("signing-keys:" + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _seal(key: ECKey, secret: str) -> dict[str, Any]:
    sealed = _fernet(secret).encrypt(json.dumps(key.as_dict(private=True)).encode())
    return {"kid": key.kid, "sealed": sealed.decode()}


def _unseal(stored: dict[str, Any], secret: str) -> ECKey:
    plain = _fernet(secret).decrypt(stored["sealed"].encode())
    return ECKey.import_key(json.loads(plain))


def new_signing_key(session: Session, now: dt.datetime, secret: str | None = None) -> SigningKey:
    kid = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
    key = ECKey.generate_key(
        "P-256", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"}, private=True
    )
    secret = secret if secret is not None else get_settings().secret_key.get_secret_value()
    row = SigningKey(kid=kid, alg=ALGORITHM, private_jwk=_seal(key, secret), created_at=now)
    session.add(row)
    session.flush()
    return row


def rotate(session: Session, now: dt.datetime, secret: str | None = None) -> SigningKey:
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
    return new_signing_key(session, now, secret)


@dataclass(frozen=True)
class KeyRingSnapshot:
    signing: ECKey
    verifying: KeySet
    public_jwks: dict[str, Any]
    # Header and claims of tokens whose signature verified against ``verifying``, by the
    # token's exact text: a verification's result depends only on those bytes and this
    # key set, so it is kept as long as the snapshot (``CACHE_SECONDS``).
    verified_tokens: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    # The sealed keys it was built from: a reload that finds the same ones keeps this
    # snapshot (its imported keys and its verified tokens) instead of rebuilding it.
    sealed: tuple[Any, ...] = ()


class KeyRing:
    """The cached key set of one process."""

    def __init__(self, engine: Engine, secret: str) -> None:
        self._engine = engine
        self._secret = secret
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
                rows = [new_signing_key(session, dt.datetime.now(dt.UTC), self._secret)]
            sealed = tuple(row.private_jwk for row in rows)
            current = self._snapshot
            if current is not None and current.sealed == sealed:
                return current  # no rotation since: nothing to import, no token to re-verify
            private = [_unseal(row.private_jwk, self._secret) for row in rows]
        public: list[Any] = [ECKey.import_key(key.as_dict(private=False)) for key in private]
        return KeyRingSnapshot(
            signing=private[0],
            verifying=KeySet(list(public)),
            public_jwks={"keys": [key.as_dict(private=False) for key in public]},
            sealed=sealed,
        )
