"""Authorization as dependencies, each returning a typed subject: the portal user
(session cookie, CSRF checked on state-changing methods) narrowed to an enterprise
user, bank staff or platform ops; and the bank client behind a consents-scope token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import select

from authz.accounts.web_session import COOKIE
from authz.clock import NowDep
from authz.errors import AccessRefused, invalid_token
from authz.models import ClientStatus, IssuedToken, OAuthClient, Role, User, UserKind
from authz.oauth import jwt_access_token
from authz.oauth.dpop import DPoPError, verify_proof
from authz.oauth.jwt_access_token import AccessTokenError
from authz.oauth.server import CONSENTS_SCOPE, PRODUCTS_SCOPE
from authz.runtime import AuthzRuntime, get_runtime
from finance.core.deps import SessionDep

RuntimeDep = Annotated[AuthzRuntime, Depends(get_runtime)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def current_user(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> User:
    web = runtime.codec.read(request.cookies.get(COOKIE))
    user = session.get(User, web.user_id) if web is not None else None
    if web is None or user is None or not user.active or web.epoch != user.session_epoch:
        raise AccessRefused(401, "login_required", "log in to the platform first")
    if request.method not in SAFE_METHODS:
        # JSON calls echo the token in a header; forms are checked by their endpoint.
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/")):
            if not runtime.codec.check_csrf(web, x_csrf_token):
                raise AccessRefused(403, "csrf_failed", "missing or wrong X-CSRF-Token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def _require(user: User, kind: UserKind, *roles: Role) -> User:
    if user.kind != kind.value or (roles and not user.role_set & {r.value for r in roles}):
        raise AccessRefused(403, "forbidden", f"this needs a {kind.value} user with the right role")
    return user


def enterprise_user(user: CurrentUser) -> User:
    return _require(user, UserKind.ENTERPRISE)


def bank_admin(user: CurrentUser) -> User:
    return _require(user, UserKind.BANK, Role.BANK_ADMIN)


def bank_staff(user: CurrentUser) -> User:
    return _require(user, UserKind.BANK)


def ops_user(user: CurrentUser) -> User:
    return _require(user, UserKind.OPS)


def ops_admin(user: CurrentUser) -> User:
    return _require(user, UserKind.OPS, Role.OPS_ADMIN)


CurrentEnterprise = Annotated[User, Depends(enterprise_user)]
BankAdmin = Annotated[User, Depends(bank_admin)]
BankStaff = Annotated[User, Depends(bank_staff)]
OpsUser = Annotated[User, Depends(ops_user)]
OpsAdmin = Annotated[User, Depends(ops_admin)]


def bank_client(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header()] = None,
) -> OAuthClient:
    """The active client behind a client-credentials token with the ``consents`` scope
    (DPoP-bound tokens must come with a proof)."""
    return client_with_scope(request, session, runtime, now, authorization, dpop, CONSENTS_SCOPE)


def client_with_scope(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    now: NowDep,
    authorization: str | None,
    dpop: str | None,
    scope: str,
) -> OAuthClient:
    """The active client behind an access token carrying ``scope``."""
    if "access_token" in request.query_params:
        raise AccessRefused(400, "invalid_request", "access tokens in query strings are refused")
    if not authorization or " " not in authorization:
        raise invalid_token("an access token is required", scheme="Bearer")
    scheme, _, token = authorization.partition(" ")
    try:
        claims = jwt_access_token.verify(runtime.keyring, token, issuer=runtime.issuer, now=now)
    except AccessTokenError as exc:
        raise invalid_token(str(exc), scheme="Bearer") from exc
    jkt = (claims.get("cnf") or {}).get("jkt")
    if jkt is not None:
        if scheme.lower() != "dpop":
            raise invalid_token("a DPoP-bound token must be presented with the DPoP scheme")
        try:
            verify_proof(
                session,
                dpop,
                method=request.method,
                uri=runtime.url(request),
                now=now,
                access_token=token,
                expected_jkt=jkt,
            )
        except DPoPError as exc:
            raise invalid_token(str(exc), error="invalid_dpop_proof") from exc
    elif scheme.lower() != "bearer":
        raise invalid_token("unsupported authorization scheme", scheme="Bearer")
    if scope not in str(claims.get("scope", "")).split():
        raise AccessRefused(403, "insufficient_scope", f"this needs the {scope!r} scope")
    issued = session.scalar(select(IssuedToken).where(IssuedToken.jti == claims.get("jti")))
    if issued is None or issued.revoked_at is not None:
        raise invalid_token("the access token has been revoked", scheme="Bearer")
    client = session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == claims.get("client_id"))
    )
    if client is None or client.status != ClientStatus.ACTIVE.value:
        raise invalid_token("the client is not active", error="invalid_client", scheme="Bearer")
    return client


BankClient = Annotated[OAuthClient, Depends(bank_client)]


@dataclass(frozen=True, slots=True)
class BankActor:
    """A bank acting through a staff member's portal session or one of its OAuth clients:
    ``ref`` is what records name it by ("user:12", "client:abc")."""

    bank_id: int
    ref: str


def bank_actor_with(scope: str) -> Callable[..., BankActor]:
    """A dependency for the bank behind the request: an access token (``Authorization``)
    is checked as the bank's OAuth client and must carry ``scope``; anything else must be
    a logged-in member of a bank's staff."""

    def bank_actor(
        request: Request,
        session: SessionDep,
        runtime: RuntimeDep,
        now: NowDep,
        authorization: Annotated[str | None, Header()] = None,
        dpop: Annotated[str | None, Header()] = None,
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> BankActor:
        if authorization is not None:
            client = client_with_scope(request, session, runtime, now, authorization, dpop, scope)
            return BankActor(bank_id=client.bank_id, ref=f"client:{client.client_id}")
        user = bank_staff(current_user(request, session, runtime, x_csrf_token))
        if user.bank_id is None:
            raise AccessRefused(403, "forbidden", "this bank user belongs to no bank")
        return BankActor(bank_id=user.bank_id, ref=f"user:{user.id}")

    return bank_actor


bank_actor = bank_actor_with(CONSENTS_SCOPE)
CurrentBank = Annotated[BankActor, Depends(bank_actor)]
# A bank managing its loan products: staff, or its client with the ``products`` scope.
ProductsBank = Annotated[BankActor, Depends(bank_actor_with(PRODUCTS_SCOPE))]
