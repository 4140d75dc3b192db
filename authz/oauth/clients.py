"""Bank clients: registered by a bank's admin with the public JWKS its assertions are
signed with, inactive until platform ops approve. ``client_secret_basic`` is for sandbox
clients only (the secret is shown once and stored as an argon2 hash)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from authz.models import ClientStatus, OAuthClient, User, UserKind
from authz.passwords import hash_password
from finance.core.errors import Conflict, Invalid, NotFound


def _check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise Invalid(f"redirect URIs use https: {uri}")
    if parts.fragment:
        raise Invalid(f"redirect URIs carry no fragment: {uri}")


def register(
    session: Session,
    *,
    user: User,
    name: str,
    redirect_uris: list[str],
    jwks: dict[str, Any] | None,
    token_endpoint_auth_method: str,
    sandbox: bool,
    webhook_url: str | None,
    now: dt.datetime,
) -> tuple[OAuthClient, str | None]:
    """The new (pending) client and, for a sandbox secret client, its one-time secret."""
    if user.kind != UserKind.BANK.value or user.bank_id is None:
        raise Invalid("only bank staff register clients")
    if not redirect_uris:
        raise Invalid("at least one redirect URI is required")
    for uri in redirect_uris:
        _check_redirect_uri(uri)
    secret: str | None = None
    if token_endpoint_auth_method == "private_key_jwt":
        if not jwks:
            raise Invalid("private_key_jwt clients register their public JWKS")
        try:
            key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise Invalid("the JWKS is not a valid JWK Set") from exc
        if any(key.is_private for key in key_set.keys):
            raise Invalid("register public keys only")
    elif token_endpoint_auth_method == "client_secret_basic":
        if not sandbox:
            raise Invalid("client_secret_basic is for sandbox clients only")
        secret = secrets.token_urlsafe(32)
    else:
        raise Invalid("token_endpoint_auth_method is private_key_jwt or client_secret_basic")
    if webhook_url is not None:
        _check_redirect_uri(webhook_url)
    client = OAuthClient(
        client_id="bank-" + secrets.token_urlsafe(12),
        bank_id=user.bank_id,
        name=name,
        redirect_uris=redirect_uris,
        jwks=jwks,
        token_endpoint_auth_method=token_endpoint_auth_method,
        secret_hash=hash_password(secret) if secret else None,
        sandbox=sandbox,
        webhook_url=webhook_url,
        status=ClientStatus.PENDING.value,
        registered_by=user.id,
        registered_at=now,
    )
    session.add(client)
    session.flush()
    return client, secret


def visible_to(user: User) -> Select[OAuthClient]:
    """Bank staff see their bank's clients; ops see all."""
    query = select(OAuthClient).order_by(OAuthClient.id)
    if user.kind == UserKind.OPS.value:
        return query
    if user.kind == UserKind.BANK.value:
        return query.where(OAuthClient.bank_id == user.bank_id)
    return query.where(OAuthClient.id.is_(None))


def get_visible(session: Session, user: User, client_id: str) -> OAuthClient:
    client = session.scalar(visible_to(user).where(OAuthClient.client_id == client_id))
    if client is None:
        raise NotFound("no such client", client_id=client_id)
    return client


def set_status(
    session: Session, client: OAuthClient, status: ClientStatus, by: User | None, now: dt.datetime
) -> OAuthClient:
    if client.status == status.value:
        raise Conflict(f"the client is already {status.value}")
    client.status = status.value
    if status is ClientStatus.ACTIVE:
        client.approved_by = by.id if by else None
        client.approved_at = now
    session.flush()
    return client
