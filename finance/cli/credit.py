"""``finance credit ...``: train, score, manage and monitor credit models.

Each command opens its own transactions and calls the ``credit`` package. ``rescore``
hands the chunks to the Celery workers when one is running on its queue (or with
``--workers``) by task name (the CLI never imports ``workers``; it only needs the broker
URL from the settings) and follows their progress in the scores table; with no worker
running (or ``--inline``) it scores them in this process.
"""

from __future__ import annotations

import datetime as dt
import getpass
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finance.cli.output import console, err_console, fail, print_json, progress
from finance.core.db import transaction
from finance.core.errors import DomainError, Invalid
from finance.core.settings import get_settings

app = typer.Typer(help="Credit models: train, score, registry, monitoring.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
ByOpt = Annotated[str, typer.Option("--by", help="Who is acting (recorded).")]
RESCORE_TASK = "credit.rescore_chunk"


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def _observed_until(session: Session, value: str | None) -> dt.date:
    """``--observed-until``, or by default today or the loan book's latest date when
    that is earlier (``credit.dataset.outcomes_known_until``)."""
    from credit.dataset import outcomes_known_until

    if value is not None:
        return _date(value, "--observed-until")
    return outcomes_known_until(session, _today())


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option("--data", help="Train on this CSV file instead of the platform.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column of --data.")] = None,
    bad_value: Annotated[
        str | None, typer.Option("--bad-value", help="The target value meaning bad.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="Split out-of-time on this column.")
    ] = None,
    observed_until: Annotated[
        str | None,
        typer.Option(
            help="Outcomes known up to this date (YYYY-MM-DD); default today (UTC), or the "
            "loan book's latest recorded date when that is earlier."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (training is deterministic).")] = 42,
    budget: Annotated[
        float,
        typer.Option(
            help="Seconds the --data tuning may take (a search over the model's settings by"
            " cross-validation, with the WOE scorecard beside it)."
        ),
    ] = 180.0,
    linear_base: Annotated[
        bool,
        typer.Option(
            "--linear-base/--no-linear-base",
            help="Start the trees from a regularised logistic regression (default) or from "
            "the average. With --data the tuning tries both.",
        ),
    ] = True,
    promote: Annotated[bool, typer.Option(help="Make the new version the live model.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a model (platform loan history, or --data FILE) and register it as a candidate.

    Prints the evaluation and, on its last line, the new version."""
    from credit.dataset import file_training_set, platform_training_set
    from credit.registry import promote as promote_version
    from credit.registry import register
    from credit.train import train as fit
    from credit.tuning import train_tuned

    settings = get_settings()
    try:
        if data is not None:
            if target is None:
                fail("--data needs --target", as_json=as_json)
            training_set = file_training_set(
                data, target, bad_value=bad_value, time_column=time_column
            )
        else:
            with transaction() as session:
                until = _observed_until(session, observed_until)
                training_set = platform_training_set(session, until)
        if data is not None:
            if budget <= 0:
                fail("--budget must be a positive number of seconds", as_json=as_json)
            result = train_tuned(training_set, seed=seed, budget_seconds=budget)
        else:
            result = fit(training_set, seed=seed, linear_base=linear_base)
        if data is None:
            result.report["observed_until"] = until.isoformat()
        with transaction() as session:
            row = register(session, result, settings.resolved_data_dir, created_by=_who())
            if promote:
                promote_version(session, row.version, by=_who())
    except (DomainError, ValueError) as exc:
        fail(getattr(exc, "detail", str(exc)), as_json=as_json)
    report = result.report
    if as_json:
        print_json(report)
        return
    from credit.evaluate import render_text

    console.print(render_text(report), highlight=False, markup=False)
    console.print(report["version"], highlight=False)


@app.command()
def score(
    model: Annotated[str, typer.Option("--model", help="A version, or 'active'.")] = "active",
    data: Annotated[Path | None, typer.Option("--data", help="CSV file to score.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the scores.")] = None,
    uscc: Annotated[str | None, typer.Option(help="Score one platform enterprise.")] = None,
    as_of: Annotated[str | None, typer.Option(help="As-of date for --uscc.")] = None,
    amount: Annotated[
        Decimal | None,
        typer.Option(help="Amount applied for in yuan, for --uscc (default: none, a profile)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a file (one output row per input row, in order, with pd and score added) or
    one enterprise (PD, score, band, reasons)."""
    from credit.dataset import read_table
    from credit.registry import load_model
    from credit.scoring import score_enterprise, score_file

    settings = get_settings()
    try:
        day = _date(as_of, "--as-of") if as_of else _today()
        with transaction() as session:
            chosen = load_model(session, settings.resolved_data_dir, model)
            if uscc is not None:
                result = score_enterprise(
                    session,
                    uscc,
                    day,
                    data_dir=settings.resolved_data_dir,
                    model=chosen,
                    amount_fen=None if amount is None else int(amount * 100),
                )
        if uscc is not None:
            if as_json:
                print_json(result.as_dict())
            else:
                console.print(
                    f"{uscc} as of {result.as_of}: PD {result.pd:.4f}  score {result.score}"
                    f"  band {result.band}  (model {result.model_version})"
                )
                for reason in result.reasons:
                    console.print(f"  - {reason['zh']} / {reason['en']}: {reason['value']}")
            return
        if data is None or out is None:
            fail("give --data FILE and --out FILE, or --uscc", as_json=as_json)
        scored = score_file(chosen, read_table(data))
    except DomainError as exc:
        fail(exc.detail, 1 if exc.status == 404 else 2, as_json=as_json)
    scored.to_csv(out, index=False)
    summary = {"model_version": chosen.version, "rows": len(scored), "out": str(out)}
    if as_json:
        print_json(summary)
    else:
        console.print(f"scored {len(scored)} rows with model {chosen.version} -> {out}")


@app.command()
def models(as_json: JsonOpt = False) -> None:
    """List model versions, newest first."""
    from credit.registry import list_versions

    with transaction() as session:
        rows = [
            {
                "version": row.version,
                "status": row.status,
                "source": row.source,
                "created_at": row.created_at,
                "promoted_at": row.promoted_at,
                "promoted_by": row.promoted_by,
                "previous_version": row.previous_version,
                **row.metrics,
            }
            for row in list_versions(session)
        ]
    if as_json:
        print_json({"models": rows})
        return
    table = Table("version", "status", "source", "AUC", "KS", "created", "promoted by")
    for row in rows:
        table.add_row(
            row["version"],
            row["status"],
            row["source"],
            f"{row['auc']:.4f}",
            f"{row['ks']:.4f}",
            f"{row['created_at']:%Y-%m-%d %H:%M}",
            row["promoted_by"] or "",
        )
    console.print(table)


def _switch(action: str, version: str | None, by: str, as_json: bool) -> None:
    from credit.registry import promote as promote_version
    from credit.registry import rollback as rollback_version

    try:
        with transaction() as session:
            if version is not None:
                row = promote_version(session, version, by=by)
            else:
                row = rollback_version(session, by=by)
            result = {"action": action, "active": row.version, "replaced": row.previous_version}
    except DomainError as exc:
        fail(exc.detail, 1 if exc.status == 404 else 2, as_json=as_json)
    if as_json:
        print_json(result)
    else:
        console.print(f"active model: {result['active']}")


@app.command()
def promote(version: str, by: ByOpt = "", as_json: JsonOpt = False) -> None:
    """Make VERSION the live model (the current one is retired)."""
    _switch("promote", version, by or _who(), as_json)


@app.command()
def rollback(by: ByOpt = "", as_json: JsonOpt = False) -> None:
    """Return to the model the live one replaced."""
    _switch("rollback", None, by or _who(), as_json)


@app.command()
def rescore(
    as_of: Annotated[str | None, typer.Option(help="As-of date; default today (UTC).")] = None,
    chunk_size: Annotated[int, typer.Option(help="Enterprises per chunk.")] = 5000,
    workers: Annotated[
        bool | None,
        typer.Option(
            "--workers/--inline",
            help="Send the chunks to Celery workers, or score in this process. Default: "
            "workers when one is running on --queue (asked with a 1 s timeout), else inline.",
        ),
    ] = None,
    queue: Annotated[str, typer.Option(help="The Celery queue the chunks go to.")] = "celery",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the workers.")] = 3600.0,
    as_json: JsonOpt = False,
) -> None:
    """Score every enterprise with the live model and store the scores."""
    from celery import Celery

    from credit.models import CreditScore
    from credit.registry import load_model
    from credit.scoring import (
        Stages,
        chunk_bounds,
        chunk_scored,
        chunk_sizes,
        enterprise_count,
        rescore_chunk,
    )
    from finance.core.worker_presence import find_workers

    settings = get_settings()
    try:
        day = _date(as_of, "--as-of") if as_of else _today()
    except Invalid as exc:
        fail(exc.detail, as_json=as_json)
    client = Celery("finance-cli", broker=settings.celery_broker_url)
    found: list[str] = []
    if workers is None:
        presence = find_workers(client, settings.resolved_data_dir, queue)
        found, workers = presence.workers, bool(presence.workers)
        if workers:
            note = f"sending the chunks to {len(found)} worker(s) on queue {queue!r}: "
            note += ", ".join(found)
        else:
            note = (
                f"no Celery worker is running on queue {queue!r} ({presence.looked});"
                " scoring inline in this process. Start workers with `finance worker`,"
                " or pass --inline to skip this check."
            )
        err_console.print(note, highlight=False, markup=False)
    started = time.perf_counter()
    try:
        with transaction() as session:
            # The industry index the chunks read is kept current by ingestion
            # (``credit.industry``): nothing to refresh here.
            model = load_model(session, settings.resolved_data_dir)
            bounds = chunk_bounds(session, chunk_size)
            total = enterprise_count(session)
        prepared = time.perf_counter()
    except DomainError as exc:
        fail(exc.detail, as_json=as_json)
    stages = Stages()
    version = str(model.version)
    scored = 0
    with progress(not as_json) as bar:
        task = bar.add_task(f"rescore {version}", total=total)
        if workers:
            for first, last in bounds:
                client.send_task(
                    RESCORE_TASK, args=[day.isoformat(), first, last, version], queue=queue
                )
            # Followed chunk by chunk (a chunk's scores commit together): one index probe
            # per chunk still out, then the date's scores counted once at the end.
            pending = dict(zip(bounds, chunk_sizes(bounds, total, chunk_size), strict=True))
            deadline = time.monotonic() + timeout
            while pending:
                if time.monotonic() > deadline:
                    fail(
                        f"workers scored {total - sum(pending.values())} of {total}"
                        f" in {timeout:.0f}s ({len(pending)} chunks not done)",
                        as_json=as_json,
                    )
                time.sleep(0.2)
                with transaction() as session:
                    for first, last in list(pending):
                        if chunk_scored(session, version, day, first, last):
                            del pending[(first, last)]
                bar.update(task, completed=total - sum(pending.values()))
            with transaction() as session:
                scored = int(
                    session.scalar(
                        select(func.count())
                        .select_from(CreditScore)
                        .where(CreditScore.as_of == day, CreditScore.model_version == version)
                    )
                    or 0
                )
        else:
            for first, last in bounds:
                with transaction() as session:
                    scored += rescore_chunk(session, model, day, first, last, stages)
                bar.update(task, completed=scored)
    elapsed = time.perf_counter() - started
    scoring = time.perf_counter() - prepared
    result: dict[str, Any] = {
        "model_version": version,
        "as_of": day,
        "enterprises": scored,
        "chunks": len(bounds),
        "seconds": round(elapsed, 3),
        "per_second": round(scored / elapsed, 1) if elapsed else None,
        # Loading the model and cutting the chunks come first; the rest is the scoring.
        "prepare_seconds": round(prepared - started, 3),
        "scoring_seconds": round(scoring, 3),
        "scoring_per_second": round(scored / scoring, 1) if scoring else None,
        "stages": None if workers else stages.as_dict(),
        "via_workers": workers,
        "workers": found,
    }
    if as_json:
        print_json(result)
    else:
        console.print(
            f"scored {scored} enterprises as of {day} with {version} in {elapsed:.1f}s"
            f" ({result['per_second']}/s)"
        )


@app.command()
def monitor(
    as_of: Annotated[str | None, typer.Option(help="Population date; default today.")] = None,
    observed_until: Annotated[
        str | None,
        typer.Option(
            help="Outcomes known up to this date; default today, or the loan book's latest "
            "recorded date when that is earlier."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """PSI of the score and features against training, KS and bad rate by vintage; writes
    a report under the data directory."""
    from credit.monitor import monitor as run_monitor
    from credit.monitor import render_text, write_report
    from credit.registry import load_model

    settings = get_settings()
    try:
        day = _date(as_of, "--as-of") if as_of else _today()
        with transaction() as session:
            until = _observed_until(session, observed_until)
            model = load_model(session, settings.resolved_data_dir)
            report = run_monitor(session, model, as_of=day, observed_until=until)
    except DomainError as exc:
        fail(exc.detail, as_json=as_json)
    path = write_report(report, settings.resolved_data_dir)
    report["report_path"] = str(path)
    if as_json:
        print_json(report)
    else:
        console.print(render_text(report), highlight=False, markup=False)
        console.print(f"report: {path}")


@app.command("rebuild-series")
def rebuild_series(as_json: JsonOpt = False) -> None:
    """Rewrite the packed monthly series the features read, and the industry employment
    index derived from them, from the data tables (needed only after rows were changed
    outside ingestion, which keeps both current)."""
    from credit import industry
    from credit.features import series

    started = time.perf_counter()
    with transaction() as session:
        written = series.rebuild(session.connection())
        index_rows = industry.refresh(session.connection())
    result = {
        "series": written,
        "industry_index_rows": index_rows,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        print_json(result)
    else:
        console.print(
            f"rewrote {written} series and {index_rows} industry index rows in {result['seconds']}s"
        )
