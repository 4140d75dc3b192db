"""``finance ingest``, ``finance batches`` and ``finance quality``: loading department
files and watching what was loaded."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from finance.cli.output import console, err_console, fail, print_json, progress
from finance.core.db import get_engine, transaction
from finance.govdata.categories import REGISTRY
from finance.ingestion import quality as quality_service
from finance.ingestion.service import DEFAULT_CHUNK_ROWS, IngestResult, ingest_file

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]


def _summary_table(results: list[IngestResult]) -> Table:
    table = Table(title="ingestion", title_justify="left")
    for name in ("file", "status", "read", "accepted", "refused", "written", "unchanged", "s"):
        table.add_column(name, justify="left" if name in ("file", "status") else "right")
    for r in results:
        table.add_row(
            str(r.file),
            r.status.value,
            f"{r.rows_read:,}",
            f"{r.rows_accepted:,}",
            f"{r.rows_rejected:,}",
            f"{r.rows_written:,}",
            f"{r.rows_accepted - r.rows_written:,}",
            f"{r.seconds:.1f}",
        )
    return table


def _advance(bar: Progress, task: TaskID, done: int, total: int) -> None:
    bar.update(task, completed=done, total=max(total, done))


def ingest(
    category: Annotated[str, typer.Argument(help=f"One of: {', '.join(REGISTRY)}.")],
    files: Annotated[list[Path], typer.Argument(help="CSV (UTF-8/BOM/GB18030), XLSX or Parquet.")],
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="The department's extract date (default today)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Source department (default: the category's).")
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who loads it (default: OS user).")] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Rejection report path (one file) or directory (several files)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1000, help="Rows per chunk.")] = DEFAULT_CHUNK_ROWS,
    as_json: JsonOpt = False,
) -> None:
    """Validate and load department files. Exit 0: all rows accepted; 1: some refused (the
    rest loaded, see the report); 2: a file could not be read (nothing from it loaded)."""
    if category not in REGISTRY:
        fail(f"unknown category {category!r}; known: {', '.join(REGISTRY)}", as_json=as_json)
    if report is not None and len(files) > 1 and not report.is_dir():
        fail("--report must be a directory when several files are given", as_json=as_json)
    engine = get_engine()
    results: list[IngestResult] = []
    with progress(enabled=not as_json) as bar:
        for path in files:
            task = bar.add_task(f"{category} {path.name}", total=None)
            target = (
                report / (path.name + ".rejected.csv") if report and report.is_dir() else report
            )
            result = ingest_file(
                engine,
                category,
                path,
                as_of=as_of.date() if as_of else None,
                source=source,
                ingested_by=by,
                report_path=target,
                chunk_rows=chunk_rows,
                on_progress=partial(_advance, bar, task),
            )
            bar.update(task, completed=result.rows_read, total=result.rows_read or 1)
            results.append(result)
    exit_code = max(r.exit_code for r in results)
    if as_json:
        print_json(
            {"category": category, "exit_code": exit_code, "files": [r.as_dict() for r in results]}
        )
    else:
        console.print(_summary_table(results))
        for r in results:
            if r.error:
                err_console.print(f"[bold red]unreadable:[/] {r.error}")
            elif r.rows_rejected:
                reasons = "; ".join(f"{n} × {reason}" for reason, n in list(r.reasons.items())[:5])
                err_console.print(
                    f"[yellow]{r.rows_rejected:,} rows refused[/] in {r.file.name} "
                    f"(report: {r.report_path}): {reasons}"
                )
    raise typer.Exit(exit_code)


def batches(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    status: Annotated[str | None, typer.Option(help="loaded, partial, unreadable...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=quality_service.MAX_PAGE)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List ingestion batches, newest first."""
    if category is not None and category not in REGISTRY:
        fail(f"unknown category {category!r}; known: {', '.join(REGISTRY)}", as_json=as_json)
    with transaction() as session:
        page = quality_service.list_batches(session, category=category, status=status, limit=limit)
    if as_json:
        print_json(page.model_dump())
        return
    table = Table(title="ingestion batches", title_justify="left")
    for name in ("id", "category", "status", "file", "read", "refused", "written", "by", "at"):
        table.add_column(name)
    for b in page.items:
        table.add_row(
            str(b.id),
            b.category,
            b.status,
            Path(b.file_name).name,
            f"{b.rows_read:,}",
            f"{b.rows_rejected:,}",
            f"{b.rows_written:,}",
            b.ingested_by,
            b.started_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def quality(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Data-quality figures per category: coverage, completeness, rejection rate, freshness."""
    if category is not None and category not in REGISTRY:
        fail(f"unknown category {category!r}; known: {', '.join(REGISTRY)}", as_json=as_json)
    with transaction() as session:
        figures = quality_service.quality(session, category)
    if as_json:
        print_json({"categories": [f.model_dump() for f in figures]})
        return
    table = Table(title="data quality", title_justify="left")
    for name in (
        "category",
        "records",
        "coverage",
        "completeness",
        "rejected",
        "latest",
        "fresh(d)",
    ):
        table.add_column(name)

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    for f in figures:
        table.add_row(
            f.category,
            f"{f.records:,}",
            pct(f.coverage),
            pct(f.completeness),
            pct(f.rejection_rate),
            str(f.latest_data_date or "-"),
            "-" if f.freshness_days is None else str(f.freshness_days),
        )
    console.print(table)


def categories(
    name: Annotated[str | None, typer.Argument(help="Show one category's columns.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The data categories and the columns each department file must have."""
    from finance.govdata.service import describe

    if name is not None and name not in REGISTRY:
        fail(f"unknown category {name!r}; known: {', '.join(REGISTRY)}", as_json=as_json)
    wanted = [REGISTRY[name]] if name else list(REGISTRY.values())
    if as_json:
        print_json({"categories": [describe(c).model_dump() for c in wanted]})
        return
    if name is None:
        table = Table(title="data categories", title_justify="left")
        for column in ("name", "scope", "类别", "department", "period", "key", "sensitivity"):
            table.add_column(column)
        for entry in wanted:
            table.add_row(
                entry.name,
                entry.scope,
                entry.zh,
                entry.department_zh,
                entry.period.value,
                ", ".join(entry.key),
                entry.sensitivity.value,
            )
        console.print(table)
        return
    category = wanted[0]
    table = Table(title=f"{category.name}.csv ({category.zh})", title_justify="left")
    for column in ("file column", "kind", "required", "说明", "meaning", "values"):
        table.add_column(column)
    table.add_row("uscc", "uscc", "yes", "统一社会信用代码", "USCC (GB 32100)", "")
    for spec in category.columns:
        table.add_row(
            spec.name,
            spec.kind.value,
            "yes" if spec.required else "",
            spec.zh,
            spec.en,
            ", ".join(f"{x.code} ({x.zh})" for x in spec.choices),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(categories)
    app.command()(ingest)
    app.command()(batches)
    app.command()(quality)
