"""``finance synth``: generate a SYNTHETIC province (department files and a loan history)
and optionally load it through the ingestion path."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import TaskID
from rich.table import Table

from finance.cli.output import console, fail, print_json, progress
from finance.core.dates import add_months
from finance.core.db import get_engine
from finance.core.settings import get_settings
from finance.synth.province import SynthConfig
from finance.synth.service import generate, load, write

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _month(text: str | None) -> dt.date:
    """``YYYY-MM`` -> its first day; by default the last complete month before today."""
    if text is None:
        return add_months(dt.datetime.now(dt.UTC).date().replace(day=1), -1)
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a month (YYYY-MM)") from None


def synth(
    enterprises: Annotated[int, typer.Option(min=1, help="Enterprises to generate.")] = 10_000,
    months: Annotated[int, typer.Option(min=1, help="Months of department data.")] = 36,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same arguments give the same files.")
    ] = 42,
    end: Annotated[
        str | None,
        typer.Option(help="Last month of the data, YYYY-MM (default: last complete month)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for the files (default: DATA_DIR/synth).")
    ] = None,
    load_database: Annotated[
        bool, typer.Option("--load", help="Load the files into the database through ingestion.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a SYNTHETIC province: department files, banks, products and loans."""
    config = SynthConfig(enterprises=enterprises, months=months, seed=seed, end=_month(end))
    settings = get_settings()
    directory = out or settings.resolved_data_dir / "synth"
    clock = time.perf_counter()
    with progress(not as_json) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        advance("generate", 0, 1)
        synthetic = generate(config)
        advance("generate", 1, 1)
        paths = write(synthetic, directory, on_progress=advance)
        generated = time.perf_counter() - clock
        summary = None
        if load_database:
            try:
                summary = load(get_engine(settings), synthetic, paths, on_progress=advance)
            except OSError as exc:
                fail(f"could not load the province: {exc}", 2, as_json=as_json)
    book = synthetic.book
    result: dict[str, Any] = {
        "synthetic": True,
        "seed": seed,
        "enterprises": enterprises,
        "months": months,
        "window": [config.start.strftime("%Y-%m"), config.end.strftime("%Y-%m")],
        "out": str(directory),
        "rows": synthetic.rows,
        "malformed_rows": synthetic.malformed_rows,
        "malformed_by_fault": synthetic.fault_counts(),
        "banks": len(book.banks),
        "products": len(book.products),
        "applications": len(book.applications),
        "loans": len(book.loans),
        "default_rate": round(book.default_rate, 4),
        "oracle_auc": None if book.oracle_auc is None else round(book.oracle_auc, 4),
        "seconds": {"generate_and_write": round(generated, 2)},
    }
    if summary is not None:
        result["loaded"] = {
            "ingested": {name: r.as_dict() for name, r in summary.ingested.items()},
            "rows_rejected": summary.rows_rejected,
            "banks": summary.banks,
            "products": summary.products,
            "applications": summary.applications,
            "loans": summary.loans,
            "truths": summary.truths,
            "demands": asdict(summary.demands),
        }
        result["seconds"]["load"] = round(time.perf_counter() - clock - generated, 2)
    if as_json:
        print_json(result)
        return
    table = Table(title="SYNTHETIC province", title_justify="left")
    for name in ("file", "rows", "malformed", "refused on load"):
        table.add_column(name, justify="left" if name == "file" else "right")
    for name, rows in synthetic.rows.items():
        refused = "" if summary is None else f"{summary.ingested[name].rows_rejected:,}"
        table.add_row(f"{name}.csv", f"{rows:,}", f"{synthetic.malformed_rows[name]:,}", refused)
    console.print(table)
    auc = result["oracle_auc"]
    console.print(
        f"{len(book.banks)} banks, {len(book.products)} products, "
        f"{len(book.applications):,} applications, {len(book.loans):,} loans, "
        f"default rate {book.default_rate:.2%}, oracle AUC {auc if auc is not None else 'n/a'}"
    )
    if summary is not None:
        d = summary.demands
        console.print(
            f"{d.demands:,} financing demands: {d.claimed:,} claimed, {d.loans:,} loans, "
            f"{d.declined:,} declined, {d.overdue:,} overdue rounds"
        )
    console.print(f"files in {directory}; seconds {result['seconds']}")


def register(app: typer.Typer) -> None:
    app.command()(synth)
