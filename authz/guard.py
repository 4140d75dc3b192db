"""The one guard every data call goes through, and the ledger entry every call leaves.

In order: no token in the query string; a DPoP-bound JWT access token this platform
issued (RFC 9068), unexpired and unrevoked; the per-client rate limit; a valid DPoP proof
for this request signed with the token's key (RFC 9449 §7); an active client; the
token's consent Authorised and unexpired *now*, for this client, this enterprise, each
requested category and the requested dates; the consent's daily call limit. Any refusal
raises ``AccessRefused``; the caller records it with ``record_refusal``.

Every call of a busy bank passes here, so the hot path is lean: the token's signature is
verified once per key-set snapshot (``jwt_access_token.verify``), the proof's key is
imported once per process, the proof's ``jti`` is remembered in the same trip to Redis
(or the same short transaction) as the rate limit, the token, client and consent are
one Core query, and the ledger entry is appended by the process's group-commit writer,
whose transaction also counts the call against the daily limit (exactly, under the
ledger's lock). The request is answered only after that transaction has committed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from authz.consents import service as consents
from authz.errors import AccessRefused, invalid_token
from authz.ledger import service as ledger
from authz.models import ClientStatus, Consent, ConsentStatus, IssuedToken, OAuthClient
from authz.oauth import jwt_access_token
from authz.oauth.dpop import DPoPError, DPoPProof, check_proof, jti_digest, replay_horizon
from authz.oauth.jwt_access_token import AccessTokenError
from authz.ratelimit import OneTimeId
from authz.runtime import AuthzRuntime

log = logging.getLogger("authz.guard")
_token: Any = IssuedToken.__table__
_client: Any = OAuthClient.__table__
_consent: Any = Consent.__table__
# One round trip for the three live facts: token, client, consent.
_LIVE_FACTS = (
    select(
        _token.c.revoked_at,
        _client.c.client_id.label("client_client_id"),
        _client.c.status.label("client_status"),
        _consent.c.id,
        _consent.c.client_id,
        _consent.c.uscc,
        _consent.c.categories,
        _consent.c.data_from,
        _consent.c.data_to,
        _consent.c.expires_at,
        _consent.c.max_calls_per_day,
        _consent.c.status,
    )
    .select_from(_token)
    .join(_client, _client.c.client_id == _token.c.client_id)
    .outerjoin(_consent, _consent.c.id == _token.c.consent_id)
    .where(_token.c.jti == bindparam("jti"))
)
T = TypeVar("T")


@dataclass(frozen=True)
class ConsentTerms:
    """The covering consent as the guard read it for this call."""

    id: str
    client_id: str
    uscc: str
    categories: str
    data_from: dt.date
    data_to: dt.date
    expires_at: dt.datetime
    max_calls_per_day: int
    status: str

    @property
    def category_list(self) -> list[str]:
        return self.categories.split()


@dataclass
class DataCall:
    """What the caller asked for, and (once allowed) what the consent lets it have."""

    uscc: str
    categories: list[str]
    date_from: dt.date | None
    date_to: dt.date | None
    started: float = field(default_factory=time.perf_counter)
    client_id: str | None = None
    consent: ConsentTerms | None = None

    @property
    def latency_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


def _bearer(authorization: str | None) -> tuple[str, str]:
    if not authorization or " " not in authorization:
        raise invalid_token("a DPoP-bound access token is required")
    scheme, _, token = authorization.partition(" ")
    return scheme.lower(), token.strip()


def authorise(
    session: Session,
    runtime: AuthzRuntime,
    call: DataCall,
    *,
    authorization: str | None,
    dpop: str | None,
    method: str,
    htu: str,
    query: Mapping[str, str],
    now: dt.datetime,
) -> ConsentTerms:
    if "access_token" in query:
        raise AccessRefused(
            400, "invalid_request", "access tokens in query strings are refused (RFC 9700 §4.3.2)"
        )
    scheme, token = _bearer(authorization)
    if scheme not in ("dpop", "bearer"):
        raise invalid_token("unsupported authorization scheme")
    try:
        claims = jwt_access_token.verify(runtime.keyring, token, issuer=runtime.issuer, now=now)
    except AccessTokenError as exc:
        raise invalid_token(str(exc)) from exc
    call.client_id = str(claims.get("client_id"))
    jkt = (claims.get("cnf") or {}).get("jkt")
    if jkt is None:
        raise invalid_token("data calls need a DPoP-bound access token")
    if scheme != "dpop":
        raise invalid_token("a DPoP-bound token must be presented with the DPoP scheme")

    # The rate limit is counted, and the proof's jti remembered, in one trip to the shared
    # store; a refusal for the rate limit still comes before one for the proof.
    proof: DPoPProof | None = None
    proof_error: DPoPError | None = None
    try:
        proof = check_proof(
            dpop, method=method, uri=htu, now=now, access_token=token, expected_jkt=jkt
        )
    except DPoPError as exc:
        proof_error = exc
    admission = runtime.limiter.admit(
        f"client:{call.client_id}",
        runtime.settings.client_rate_per_minute,
        now,
        None
        if proof is None
        else OneTimeId(jti_digest("dpop", f"{proof.jkt}:{proof.jti}"), replay_horizon(now)),
    )
    if not admission.decision.allowed:
        refusal = AccessRefused(429, "rate_limited", "the client's rate limit is exhausted")
        refusal.headers = admission.decision.headers()
        raise refusal
    if proof_error is not None:
        raise invalid_token(str(proof_error), error="invalid_dpop_proof") from proof_error
    if not admission.fresh:
        raise invalid_token("the DPoP proof was used before (replay)", error="invalid_dpop_proof")

    row = session.connection().execute(_LIVE_FACTS, {"jti": claims.get("jti")}).first()
    if row is None or row.revoked_at is not None:
        raise invalid_token("the access token has been revoked")
    if row.client_client_id != call.client_id or row.client_status != ClientStatus.ACTIVE.value:
        raise invalid_token("the client is not active", error="invalid_client")
    if row.id is None or row.client_id != row.client_client_id or row.uscc != call.uscc:
        # Another enterprise, or no consent at all: the caller may not see it.
        raise AccessRefused(404, "not_found", "no consent of this client covers this enterprise")
    consent = ConsentTerms(
        id=row.id,
        client_id=row.client_id,
        uscc=row.uscc,
        categories=row.categories,
        data_from=row.data_from,
        data_to=row.data_to,
        expires_at=row.expires_at,
        max_calls_per_day=row.max_calls_per_day,
        status=row.status,
    )
    if consent.status == ConsentStatus.REVOKED.value:
        raise AccessRefused(403, "consent_revoked", "the consent was revoked")
    if consent.status == ConsentStatus.EXPIRED.value or consent.expires_at <= now:
        raise AccessRefused(403, "consent_expired", "the consent has expired")
    if consent.status != ConsentStatus.AUTHORISED.value:
        raise AccessRefused(403, "consent_not_authorised", f"the consent is {consent.status}")
    scopes = set(str(claims.get("scope", "")).split())
    for category in call.categories:
        if category not in consent.category_list or f"data:{category}" not in scopes:
            raise AccessRefused(
                403,
                "insufficient_scope",
                f"the consent does not cover the {category} category",
                headers={"WWW-Authenticate": 'DPoP error="insufficient_scope"'},
            )
    date_from = call.date_from or consent.data_from
    date_to = call.date_to or consent.data_to
    if date_from > date_to:
        raise AccessRefused(422, "invalid_request", "date_from is after date_to")
    for category in call.categories:
        if not consents.covers(
            consent,
            client_id=call.client_id,
            uscc=call.uscc,
            category=category,
            date_from=date_from,
            date_to=date_to,
            now=now,
        ):
            raise AccessRefused(
                403,
                "dates_outside_consent",
                f"the consent covers data from {consent.data_from} to {consent.data_to}",
            )
    # The daily limit is the last check: the ledger writer counts the call when it
    # appends its entry (``record_allowed``), and refuses it there if the day is full.
    call.date_from, call.date_to, call.consent = date_from, date_to, consent
    return consent


def _daily_limit_exceeded(consent: ConsentTerms, now: dt.datetime) -> AccessRefused:
    start = consents.day_start(now)
    retry = int((start + dt.timedelta(days=1) - now).total_seconds())
    return AccessRefused(
        429,
        "daily_limit_exceeded",
        f"the consent allows {consent.max_calls_per_day} calls a day",
        headers={"Retry-After": str(max(1, retry))},
    )


def record_allowed(
    runtime: AuthzRuntime,
    call: DataCall,
    *,
    rows: int,
    now: dt.datetime,
    request_id: str | None,
) -> None:
    """Append the allowed call's entry and count it against the daily limit, both
    committed before this returns; raises (the refusal recorded instead) if the
    consent's calls for today are used up."""
    consent = call.consent
    assert consent is not None
    refusal = _daily_limit_exceeded(consent, now)
    written = runtime.ledger.append(
        ledger.entry_fields(
            at=now,
            action="data_call",
            actor=f"client:{call.client_id}",
            outcome="allowed",
            request_id=request_id,
            client_id=call.client_id,
            uscc=call.uscc,
            consent_id=consent.id,
            categories=call.categories,
            date_from=call.date_from,
            date_to=call.date_to,
            rows_returned=rows,
            latency_ms=call.latency_ms,
        ),
        daily_limit=ledger.DailyLimit(
            consent_id=consent.id,
            day=consents.local_day(now),
            limit=consent.max_calls_per_day,
            refusal=f"{refusal.error}: {refusal.detail}",
        ),
    )
    if written.refused_by_limit:
        log.info("data call refused", extra={"client_id": call.client_id, "error": refusal.error})
        raise refusal


def record_refusal(
    runtime: AuthzRuntime,
    call: DataCall,
    refusal: AccessRefused,
    *,
    now: dt.datetime,
    request_id: str | None,
) -> None:
    """A refused call is recorded in a transaction of its own (the writer's): the
    request's own work was rolled back, its trace must stay."""
    runtime.ledger.append(
        ledger.entry_fields(
            at=now,
            action="data_call",
            actor=f"client:{call.client_id}" if call.client_id else "anonymous",
            outcome="refused",
            request_id=request_id,
            client_id=call.client_id,
            uscc=call.uscc,
            consent_id=call.consent.id if call.consent else None,
            categories=call.categories,
            date_from=call.date_from,
            date_to=call.date_to,
            reason=f"{refusal.error}: {refusal.detail}",
            latency_ms=call.latency_ms,
        )
    )
    log.info("data call refused", extra={"client_id": call.client_id, "error": refusal.error})


def serve(
    session: Session,
    runtime: AuthzRuntime,
    call: DataCall,
    read: Callable[[ConsentTerms], tuple[T, int]],
    *,
    authorization: str | None,
    dpop: str | None,
    method: str,
    htu: str,
    query: Mapping[str, str],
    now: dt.datetime,
    request_id: str | None,
) -> T:
    """Authorise, read, record: the whole data call. ``read`` gets the covering consent
    (with the call's dates already minimised to it) and returns the body and row count."""
    try:
        consent = authorise(
            session,
            runtime,
            call,
            authorization=authorization,
            dpop=dpop,
            method=method,
            htu=htu,
            query=query,
            now=now,
        )
    except AccessRefused as refusal:
        session.rollback()
        record_refusal(runtime, call, refusal, now=now, request_id=request_id)
        raise
    body, rows = read(consent)
    # Hand the connection back before waiting for the ledger writer.
    session.commit()
    record_allowed(runtime, call, rows=rows, now=now, request_id=request_id)
    return body
