"""Periodic housekeeping of the authorization server's own tables.

- Consents past their expiry are marked Expired, which queues the ``consent.expired``
  webhook for the bank. Calls are refused at the expiry instant whether or not this has
  run; this makes the status, the enterprise's list and the bank's event log say so.
- One-time identifiers (client-assertion and DPoP ``jti``s) are kept only until their
  replay horizon: after it an old proof or assertion fails its own ``iat``/``exp`` check,
  so the row protects nothing and is deleted. Without this the table grows by one row per
  data call when rate limits and jtis live in the database.

Rate-limit counters need no sweep: each key's stale windows are dropped on its next hit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from authz.consents import service as consents
from authz.models import UsedJti


@dataclass(frozen=True, slots=True)
class Swept:
    consents_expired: int
    jtis_purged: int


def purge_used_jtis(session: Session, now: dt.datetime) -> int:
    """Delete the one-time identifiers whose replay horizon has passed."""
    result = session.execute(delete(UsedJti).where(UsedJti.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def sweep(session: Session, now: dt.datetime) -> Swept:
    """Both sweeps, in the caller's transaction."""
    return Swept(consents.expire_due(session, now), purge_used_jtis(session, now))
