"""The one guard every data call goes through, and the ledger entry every call leaves.

In order: no token in the query string; a DPoP-bound JWT access token this platform
issued (RFC 9068), unexpired and unrevoked; the per-client rate limit; a valid DPoP proof
for this request signed with the token's key (RFC 9449 §7), not used before; an active
client; the token's consent Authorised and unexpired *now*, for this client, this
enterprise, each requested category and the requested dates; the consent's daily call
limit. Any refusal raises ``AccessRefused``, and every call, allowed or refused, leaves
one ledger entry.

The guard and the reads are synchronous SQLAlchemy work, run off the event loop by the
runtime's ``reads`` (``finance.core.offload``) with a reading connection in autocommit:
the token, client and consent are one query and the records another. The token's
signature is verified once per key-set snapshot (``jwt_access_token.verify``) and the
proof's key is imported once per process. What must be shared by every server process is
settled in one place, the ledger writer's next group commit (``LedgerWriter.record_call``,
awaited): in that one transaction the client's rate limit is counted and the proof's
``jti`` remembered (one Redis pipeline instead, when Redis is configured), the call is
counted against its consent's daily limit, and its entry is chained. A call refused there
(rate limit, replayed proof, daily limit) is recorded as refused and answered so; the
precedence is the order above. The answer goes out only after that transaction has
committed.

A call refused before the guard could run (a malformed query, an unknown category: an
``EarlyRefusal``) still passes through it, so that its entry names the client and, when
the token's consent is this client's consent for this enterprise, the consent: the guard's
own refusals come first, then the early one. Every call that names an enterprise is in
the ledger, and every call made with a consent's token about that consent's enterprise
is listed under the consent's calls, allowed or refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select

from authz.consents import service as consents
from authz.errors import AccessRefused, invalid_token
from authz.ledger import service as ledger
from authz.ledger.service import PendingCall
from authz.models import ClientStatus, Consent, ConsentStatus, IssuedToken, OAuthClient
from authz.oauth import jwt_access_token
from authz.oauth.dpop import DPoPError, DPoPProof, check_proof, jti_digest, replay_horizon
from authz.oauth.jwt_access_token import AccessTokenError
from authz.ratelimit import AdmissionRequest, OneTimeId
from authz.runtime import AuthzRuntime
from finance.core.errors import DomainError
from finance.enterprises.uscc import uscc_problem

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
        _consent.c.id.label("consent_id"),
        _consent.c.client_id.label("consent_client_id"),
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


@dataclass(frozen=True)
class EarlyRefusal:
    """A refusal known before the guard runs (a malformed query, an unknown category):
    the error the caller gets, and the reason its ledger entry gives."""

    error: Exception
    reason: str


@dataclass
class DataCall:
    """What the caller asked for, and (once allowed) what the consent lets it have."""

    uscc: str
    categories: list[str]
    date_from: dt.date | None
    date_to: dt.date | None
    started: float = field(default_factory=time.perf_counter)
    client_id: str | None = None
    # The consent the call's token names, when it is this client's consent for this
    # enterprise: the entry is listed under that consent's calls, allowed or refused.
    consent_id: str | None = None
    consent: ConsentTerms | None = None  # once allowed: the covering consent's terms
    admission: AdmissionRequest | None = None  # once the client is known
    request_id: str | None = None

    @property
    def latency_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


def _bearer(authorization: str | None) -> tuple[str, str]:
    if not authorization or " " not in authorization:
        raise invalid_token("a DPoP-bound access token is required")
    scheme, _, token = authorization.partition(" ")
    return scheme.lower(), token.strip()


def authorise(
    connection: Connection,
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
    facts = connection.execute(_LIVE_FACTS, {"jti": claims.get("jti")}).one_or_none()
    if (
        facts is not None
        and facts.consent_id is not None
        and facts.consent_client_id == facts.client_client_id == call.client_id
        and facts.uscc == call.uscc
    ):
        call.consent_id = facts.consent_id
    jkt = (claims.get("cnf") or {}).get("jkt")
    if jkt is None:
        raise invalid_token("data calls need a DPoP-bound access token")
    if scheme != "dpop":
        raise invalid_token("a DPoP-bound token must be presented with the DPoP scheme")

    # Counted against the rate limit from here on, allowed or refused; the proof's jti is
    # remembered with the count, in the ledger writer's batch.
    try:
        proof: DPoPProof = check_proof(
            dpop, method=method, uri=htu, now=now, access_token=token, expected_jkt=jkt
        )
    except DPoPError as exc:
        call.admission = AdmissionRequest(
            f"client:{call.client_id}", runtime.settings.client_rate_per_minute, now
        )
        raise invalid_token(str(exc), error="invalid_dpop_proof") from exc
    call.admission = AdmissionRequest(
        f"client:{call.client_id}",
        runtime.settings.client_rate_per_minute,
        now,
        OneTimeId(jti_digest("dpop", f"{proof.jkt}:{proof.jti}"), replay_horizon(now)),
    )

    if facts is None or facts.revoked_at is not None:  # no such token, or revoked
        raise invalid_token("the access token has been revoked")
    if facts.client_client_id != call.client_id or facts.client_status != ClientStatus.ACTIVE.value:
        raise invalid_token("the client is not active", error="invalid_client")
    if call.consent_id is None:
        # Another enterprise, or no consent at all: the caller may not see it.
        raise AccessRefused(404, "not_found", "no consent of this client covers this enterprise")
    consent = ConsentTerms(
        id=facts.consent_id,
        client_id=facts.consent_client_id,
        uscc=facts.uscc,
        categories=facts.categories,
        data_from=facts.data_from,
        data_to=facts.data_to,
        expires_at=facts.expires_at,
        max_calls_per_day=facts.max_calls_per_day,
        status=facts.status,
    )
    scopes = set(str(claims.get("scope", "")).split())
    check_consent(consent, call, now, scopes)
    return consent


def check_consent(
    consent: ConsentTerms, call: DataCall, now: dt.datetime, scopes: set[str] | None = None
) -> None:
    """The consent's own checks, for a token's call and the platform's alike: live
    (not revoked, not expired, Authorised), naming each requested category (and, for a
    token, its scope), the dates inside the consented range. Minimises the call's dates
    to the consent and keeps the consent on the call."""
    if consent.status == ConsentStatus.REVOKED.value:
        raise AccessRefused(403, "consent_revoked", "the consent was revoked")
    if consent.status == ConsentStatus.EXPIRED.value or consent.expires_at <= now:
        raise AccessRefused(403, "consent_expired", "the consent has expired")
    if consent.status != ConsentStatus.AUTHORISED.value:
        raise AccessRefused(403, "consent_not_authorised", f"the consent is {consent.status}")
    for category in call.categories:
        if category not in consent.category_list or (
            scopes is not None and f"data:{category}" not in scopes
        ):
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
            client_id=call.client_id or "",
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


def _daily_limit_text(consent: ConsentTerms) -> str:
    return f"the consent allows {consent.max_calls_per_day} calls a day"


def _daily_limit_exceeded(consent: ConsentTerms, now: dt.datetime) -> AccessRefused:
    start = consents.day_start(now)
    retry = int((start + dt.timedelta(days=1) - now).total_seconds())
    return AccessRefused(
        429,
        "daily_limit_exceeded",
        _daily_limit_text(consent),
        headers={"Retry-After": str(max(1, retry))},
    )


def _reason(refusal: DomainError | EarlyRefusal) -> str:
    if isinstance(refusal, EarlyRefusal):
        return refusal.reason
    return f"{_error_code(refusal)}: {refusal.detail}"


def _ledger_uscc(uscc: str) -> str | None:
    """The enterprise an entry names: a well-formed USCC (anything else names none)."""
    return uscc if uscc_problem(uscc) is None else None


def _entry(
    call: DataCall, refusal: DomainError | EarlyRefusal | None, rows: int, now: dt.datetime
) -> PendingCall:
    reason = "" if refusal is None else _reason(refusal)
    consent = call.consent
    actor = f"client:{call.client_id}" if call.client_id else "anonymous"
    daily_limit = None
    if refusal is None and consent is not None:
        daily_limit = ledger.DailyLimit(
            consent_id=consent.id,
            day=consents.local_day(now),
            limit=consent.max_calls_per_day,
            refusal=f"daily_limit_exceeded: {_daily_limit_text(consent)}",
        )
    return PendingCall(
        ledger.entry_fields(
            at=now,
            action="data_call",
            actor=actor,
            outcome="allowed" if refusal is None else "refused",
            request_id=call.request_id,
            client_id=call.client_id,
            uscc=_ledger_uscc(call.uscc),
            consent_id=call.consent_id,
            categories=call.categories,
            date_from=call.date_from,
            date_to=call.date_to,
            reason=reason,
            rows_returned=rows if refusal is None else 0,
            latency_ms=call.latency_ms,
        ),
        daily_limit=daily_limit,
        admission=call.admission,
        rate_refusal=f"{_RATE_LIMITED}: the client's rate limit is exhausted",
        replay_refusal=f"invalid_dpop_proof: {_REPLAYED}",
    )


_RATE_LIMITED = "rate_limited"
_REPLAYED = "the DPoP proof was used before (replay)"


def _error_code(error: DomainError) -> str:
    return error.error if isinstance(error, AccessRefused) else "invalid_request"


def _outcome(
    call: DataCall,
    recorded: PendingCall,
    refusal: DomainError | EarlyRefusal | None,
    now: dt.datetime,
) -> None:
    """Raise what the committed entry says the caller gets, if not its data."""
    if recorded.refused_by is None and refusal is None:
        return
    log.info(
        "data call refused",
        extra={"client_id": recorded.fields["client_id"], "reason": recorded.fields["reason"]},
    )
    if recorded.refused_by == "rate_limit":
        assert recorded.admitted is not None
        raise AccessRefused(
            429,
            _RATE_LIMITED,
            "the client's rate limit is exhausted",
            headers=recorded.admitted.decision.headers(),
        )
    if recorded.refused_by == "replay":
        raise invalid_token(_REPLAYED, error="invalid_dpop_proof")
    if recorded.refused_by == "daily_limit":
        assert call.consent is not None
        raise _daily_limit_exceeded(call.consent, now)
    if isinstance(refusal, EarlyRefusal):
        raise refusal.error
    if refusal is not None:
        raise refusal


async def serve(
    runtime: AuthzRuntime,
    call: DataCall,
    read: Callable[[Connection, ConsentTerms], tuple[T, int]],
    *,
    authorization: str | None,
    dpop: str | None,
    method: str,
    htu: str,
    query: Mapping[str, str],
    now: dt.datetime,
    early: EarlyRefusal | None = None,
) -> T:
    """Authorise, read, record: the whole data call. ``read`` gets the reading
    connection and the covering consent (with the call's dates already minimised to it)
    and returns the body and row count; with ``early``, nothing is read and the call is
    refused with it unless the guard refuses it first. Authorising and reading run off
    the event loop (``runtime.reads``); the ledger's commit is awaited."""

    def authorise_and_read(connection: Connection) -> tuple[T | None, int]:
        consent = authorise(
            connection,
            runtime,
            call,
            authorization=authorization,
            dpop=dpop,
            method=method,
            htu=htu,
            query=query,
            now=now,
        )
        if early is not None:
            return None, 0
        return read(connection, consent)

    refusal: DomainError | EarlyRefusal | None = None
    body: T | None = None
    rows = 0
    try:
        body, rows = await runtime.reads.run(authorise_and_read)
        refusal = early
    except DomainError as error:  # a refusal, or a bad cursor: recorded all the same
        refusal = error
    recorded = await runtime.ledger.record_call(_entry(call, refusal, rows, now))
    _outcome(call, recorded, refusal, now)
    return body  # type: ignore[return-value]  # set whenever nothing was refused


def read_under_consent(
    connection: Connection,
    call: DataCall,
    consent_id: str,
    read: Callable[[Connection, ConsentTerms], tuple[T, int]],
    *,
    now: dt.datetime,
) -> T:
    """A data call the platform makes for a bank under the consent the enterprise gave
    it (the 310 decision worker): no token, so no proof and no client rate limit, but
    the same consent checks (``check_consent``), the same ledger entry in the bank's
    name (``client:<id>``, listed under the consent) and the same daily limit, allowed
    or refused. The entry is appended in the caller's transaction on ``connection``,
    so it commits (or rolls back) with what the caller does with the data: a task that
    is delivered twice and decides once leaves one set of entries."""
    refusal: DomainError | None = None
    body: T | None = None
    rows = 0
    try:
        row = connection.execute(select(_consent).where(_consent.c.id == consent_id)).one_or_none()
        if row is None or row.client_id != call.client_id or row.uscc != call.uscc:
            raise AccessRefused(
                404, "not_found", "no consent of this client covers this enterprise"
            )
        # This client's consent for this enterprise: listed under it, allowed or refused.
        call.consent_id = row.id
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
        check_consent(consent, call, now)
        body, rows = read(connection, consent)
    except DomainError as error:
        refusal = error
    entry = _entry(call, refusal, rows, now)
    ledger.append_batch(connection, [entry])
    _outcome(call, entry, refusal, now)
    return body  # type: ignore[return-value]  # set whenever nothing was refused
