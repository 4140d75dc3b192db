"""``finance`` commands of the authorization layer: users, clients, keys, consents,
the audit ledger and webhook delivery."""

from __future__ import annotations

from typing import Annotated

import typer

from authz.accounts import service as accounts
from authz.clock import system_clock
from authz.consents import service as consents
from authz.ledger import service as ledger
from authz.models import ClientStatus, OAuthClient, Role, UserKind
from authz.oauth import clients, keys
from finance.cli.output import console, fail, print_json
from finance.core.db import get_engine, transaction
from finance.core.errors import DomainError
from finance.core.settings import get_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]

user_app = typer.Typer(help="Platform users and their roles.", no_args_is_help=True)
client_app = typer.Typer(help="Bank OAuth clients.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit ledger.", no_args_is_help=True)
keys_app = typer.Typer(help="The platform's signing keys.", no_args_is_help=True)
consent_app = typer.Typer(help="Consents.", no_args_is_help=True)
webhook_app = typer.Typer(help="Consent event webhooks.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(client_app, name="client")
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
    app.add_typer(consent_app, name="consent")
    app.add_typer(webhook_app, name="webhooks")


@user_app.command("create")
def user_create(
    username: str,
    kind: Annotated[UserKind, typer.Option(help="enterprise, bank or ops")],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    uscc: Annotated[str | None, typer.Option(help="enterprise users: their USCC")] = None,
    bank_id: Annotated[int | None, typer.Option(help="bank staff: their bank")] = None,
    city_code: Annotated[str | None, typer.Option(help="city-branch ops: GB/T 2260")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a user (the password is read from a prompt or FINANCE_-free stdin)."""
    try:
        with transaction() as session:
            user = accounts.create_user(
                session,
                username=username,
                password=password,
                kind=kind,
                roles=role,
                now=system_clock(),
                uscc=uscc,
                bank_id=bank_id,
                city_code=city_code,
            )
            result = {"id": user.id, "username": user.username, "kind": user.kind}
    except DomainError as exc:
        fail(exc.detail, 2, as_json=as_json)
    if as_json:
        print_json(result)
    else:
        console.print(f"created {kind.value} user [bold]{username}[/] (id {result['id']})")


def _client_status(client_id: str, status: ClientStatus, as_json: bool) -> None:
    from sqlalchemy import select

    try:
        with transaction() as session:
            client = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
            if client is None:
                fail(f"no client {client_id}", 1, as_json=as_json)
            clients.set_status(session, client, status, None, system_clock())
    except DomainError as exc:
        fail(exc.detail, 2, as_json=as_json)
    if as_json:
        print_json({"client_id": client_id, "status": status.value})
    else:
        console.print(f"client {client_id} is {status.value}")


@client_app.command("approve")
def client_approve(client_id: str, as_json: JsonOpt = False) -> None:
    """Activate a registered bank client."""
    _client_status(client_id, ClientStatus.ACTIVE, as_json)


@client_app.command("suspend")
def client_suspend(client_id: str, as_json: JsonOpt = False) -> None:
    """Suspend a bank client: its tokens stop working at once."""
    _client_status(client_id, ClientStatus.SUSPENDED, as_json)


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Walk the hash chain; report the first broken link and exit 1 if there is one."""
    with transaction() as session:
        result = ledger.verify(session)
    payload = {
        "entries": result.entries,
        "intact": result.intact,
        "broken_at": result.broken.seq if result.broken else None,
        "reason": result.broken.reason if result.broken else None,
    }
    if as_json:
        print_json(payload)
    elif result.broken is None:
        console.print(f"ledger intact: {result.entries} entries")
    else:
        console.print(
            f"[bold red]ledger broken[/] at entry {result.broken.seq}: {result.broken.reason}"
        )
    if result.broken is not None:
        raise typer.Exit(1)


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOpt = False) -> None:
    """Add a new signing key; the previous one stays published until the next rotation."""
    with transaction() as session:
        key = keys.rotate(session, system_clock())
        kid = key.kid
    if as_json:
        print_json({"kid": kid})
    else:
        console.print(f"new signing key {kid}")


@consent_app.command("expire")
def consent_expire(as_json: JsonOpt = False) -> None:
    """Mark consents past their expiry Expired (calls are refused at expiry regardless)."""
    with transaction() as session:
        count = consents.expire_due(session, system_clock())
    if as_json:
        print_json({"expired": count})
    else:
        console.print(f"{count} consents expired")


@webhook_app.command("deliver")
def webhooks_deliver(as_json: JsonOpt = False) -> None:
    """Deliver every due consent event once (a worker runs this on a schedule)."""
    import httpx

    from authz.oauth.keys import KeyRing
    from authz.webhooks import service as webhooks

    settings = get_settings()
    keyring = KeyRing(get_engine(settings), settings.secret_key.get_secret_value())
    keyring.snapshot()
    with httpx.Client() as http, transaction() as session:
        delivered = webhooks.deliver_due(
            session, keyring, issuer=settings.public_url, now=system_clock(), http=http
        )
    if as_json:
        print_json({"delivered": delivered})
    else:
        console.print(f"{delivered} events delivered")


__all__ = ["register"]
