"""The ``finance`` command: one entry point for ops and developers.

Every command that reports takes ``--json`` and then prints exactly one JSON object on
stdout. Progress bars go to stderr and only on a terminal.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from authz import cli as authz_cli
from finance.cli import credit, ingest, synth
from finance.cli.output import console, fail, print_json
from finance.cli.worker import worker
from finance.core import migrate, outbox
from finance.core.db import get_engine, transaction
from finance.core.errors import DomainError
from finance.core.settings import get_settings

app = typer.Typer(
    name="finance",
    help="SME financing data-service platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
enterprise_app = typer.Typer(help="The enterprise registry.", no_args_is_help=True)
app.add_typer(enterprise_app, name="enterprise")
app.add_typer(credit.app, name="credit")
app.command()(worker)
ingest.register(app)
synth.register(app)
authz_cli.register(app)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create or upgrade the database schema to the newest migration."""
    settings = get_settings()
    engine = get_engine(settings)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    result = {
        "database": engine.url.render_as_string(hide_password=True),
        "from_revision": before,
        "revision": after,
    }
    if as_json:
        print_json(result)
    else:
        console.print(f"database {result['database']} at revision [bold]{after}[/]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API (uvicorn)."""
    import uvicorn

    uvicorn.run(
        "finance.asgi:app",
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@enterprise_app.command("show")
def enterprise_show(uscc: str, as_json: JsonOpt = False) -> None:
    """Show one enterprise's registry record and headline figures (ID number masked)."""
    from finance.govdata.service import profile

    try:
        with transaction() as session:
            summary = profile(session, uscc)
    except DomainError as exc:
        fail(exc.detail, 1 if exc.status == 404 else 2, as_json=as_json)
    if as_json:
        print_json(summary)
        return
    registration = summary["categories"]["registration"]
    console.print(f"[bold]{registration['name']}[/]  {uscc}")
    for category, figures in summary["categories"].items():
        table = Table(title=category, show_header=False, title_justify="left")
        for key, value in figures.items():
            table.add_row(key, "" if value is None else str(value))
        console.print(table)


@app.command("outbox")
def outbox_status(
    relay: Annotated[
        bool, typer.Option("--relay", help="Send what waits to the broker (one pass) first.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Jobs waiting in the transactional outbox (sent by the workers every second)."""
    settings = get_settings()
    engine = get_engine(settings)
    result: dict[str, object] = {}
    if relay:
        sent = outbox.Relay(engine, outbox.celery_sender(settings)).relay_once()
        result |= {"sent": sent.sent, "failed": sent.failed}
    with transaction(engine) as session:
        waiting = outbox.backlog(session)
    result |= {
        "pending": waiting.pending,
        "oldest": waiting.oldest,
        "failing": waiting.failing,
        "last_error": waiting.last_error,
    }
    if as_json:
        print_json(result)
        return
    if relay:
        console.print(f"sent {result['sent']}, failed {result['failed']}")
    console.print(
        f"pending {waiting.pending} (oldest {waiting.oldest or '-'}), failing {waiting.failing}"
    )
    if waiting.last_error:
        console.print(f"last error: {waiting.last_error}")
    if relay and result["failed"]:
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
