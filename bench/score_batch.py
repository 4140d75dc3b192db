"""Batch rescoring throughput: enterprises per second for ``finance credit rescore`` end
to end (read data, features, predict with reasons, write scores), inline and fanned out
to 1 and 2 ``finance worker`` processes, against LightGBM's bare batch predict on the
same feature matrix in the same run. The inline run prints where the time goes: each
stage's wall and CPU seconds and share (reading the rows, computing the features, PD and
score with reasons, writing the scores), and the preparation before the chunks (loading
the model, cutting the registry into chunks; the industry index is kept current by
ingestion). Every run prints the load average and the CPU share the host stole
while it ran: the machine is shared.

Runs on the configured database and broker (FINANCE_* settings) with its active model,
e.g. after ``finance synth --enterprises 100000 --load`` and ``finance credit train
--promote``. Each run uses its own as-of date so runs do not overwrite each other.

    python bench/score_batch.py [--chunk-size 5000] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from machine import cpu_ticks, load, stolen
from sqlalchemy import delete, select, text

from credit.features import feature_columns
from credit.features.inputs import day_number
from credit.features.read import Requests
from credit.models import CreditScore
from credit.registry import load_model
from finance.core.db import get_engine, session_factory
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise

FINANCE = str(Path(sys.executable).with_name("finance"))


def rescore(as_of: dt.date, chunk_size: int, workers: bool) -> dict[str, Any]:
    # Scores of this date from an earlier run of the bench would count as done at once
    # (the CLI follows the workers by probing each chunk's scores): start from none.
    with session_factory()() as session, session.begin():
        session.execute(delete(CreditScore).where(CreditScore.as_of == as_of))
    # The deleted rows are the bench's own, which a real night never leaves: on PostgreSQL
    # (whose autovacuum may be off on a bench machine) they are vacuumed away, or each run
    # would insert into index pages of dead entries of the runs before (a 4.8 GB table of
    # 500,000 live rows was seen, with the writes reading it back from disk).
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM credit_scores"))
    command = [FINANCE, "credit", "rescore", "--as-of", as_of.isoformat()]
    command += ["--chunk-size", str(chunk_size), "--json"]
    # Explicit either way: by default rescore would look for running workers itself.
    command.append("--workers" if workers else "--inline")
    ticks = cpu_ticks()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["machine"] = f"{load()}; {stolen(ticks, cpu_ticks())}"
    return result


def with_workers(count: int, as_of: dt.date, chunk_size: int) -> dict[str, Any]:
    processes = [
        subprocess.Popen(
            [FINANCE, "worker", "--concurrency", "1", "--loglevel", "WARNING",
             "--hostname", f"bench{i}-{uuid.uuid4().hex[:6]}@%h"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]  # fmt: skip
    try:
        time.sleep(8)  # let the workers connect before the clock starts
        return rescore(as_of, chunk_size, workers=True)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)


def bare_rate(chunk_size: int, as_of: dt.date) -> tuple[int, float, float]:
    settings = get_settings()
    with session_factory()() as session:
        model = load_model(session, settings.resolved_data_dir)
        usccs = list(session.scalars(select(Enterprise.uscc).order_by(Enterprise.uscc)))
        matrices = []
        for start in range(0, len(usccs), chunk_size):
            chunk = usccs[start : start + chunk_size]
            requests = Requests(
                usccs=chunk,
                as_of_day=np.full(len(chunk), day_number(as_of), dtype=np.int64),
                amount_fen=np.full(len(chunk), np.nan),
            )
            matrices.append(model.matrix(feature_columns(session, requests)))
    x = np.vstack(matrices)
    start = time.perf_counter()
    model.booster.predict(x, num_threads=1)
    one = time.perf_counter() - start
    start = time.perf_counter()
    model.booster.predict(x)
    default = time.perf_counter() - start
    return len(x), len(x) / one, len(x) / default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument(
        "--workers", default="1,2", help='worker counts, e.g. 1,2 ("": inline only)'
    )
    parser.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat())
    args = parser.parse_args()
    base = dt.date.fromisoformat(args.as_of)
    print(f"start: {load()}", flush=True)
    ticks = cpu_ticks()
    results: list[tuple[str, dict[str, Any]]] = []
    results.append(("inline (the CLI process)", rescore(base, args.chunk_size, workers=False)))
    for offset, count in enumerate(int(c) for c in args.workers.split(",") if c):
        day = base - dt.timedelta(days=offset + 1)
        results.append((f"{count} worker process(es)", with_workers(count, day, args.chunk_size)))
    bare_ticks = cpu_ticks()
    rows, bare_one, bare_default = bare_rate(args.chunk_size, base)
    bare_machine = f"{load()}; {stolen(bare_ticks, cpu_ticks())}"
    print(f"end: {load()}; {stolen(ticks, cpu_ticks())}")
    print(f"enterprises: {rows}, chunk size {args.chunk_size}, cores {os.cpu_count()}")
    print(
        f"{'':28}{'seconds':>9}{'ent/s':>9}{'prepare s':>11}{'scoring s':>11}{'scoring/s':>11}"
        f"{'bare/this':>11}  machine during the run"
    )
    for label, result in results:
        rate = result["enterprises"] / result["scoring_seconds"]
        print(
            f"{label:28}{result['seconds']:9.1f}{result['per_second']:9.0f}"
            f"{result['prepare_seconds']:11.1f}{result['scoring_seconds']:11.1f}{rate:11.0f}"
            f"{bare_one / rate:10.0f}x  {result['machine']}"
        )
    print(
        f"{'bare predict, 1 thread':28}{rows / bare_one:9.2f}{bare_one:9.0f}{'':44}{bare_machine}"
    )
    print(f"{'bare predict, all threads':28}{rows / bare_default:9.2f}{bare_default:9.0f}")
    stages = results[0][1]["stages"]
    total_wall, total_cpu = sum(stages["wall"].values()), sum(stages["cpu"].values())
    enterprises = results[0][1]["enterprises"]
    print("\ninline run, where the scoring time goes (summed over chunks):")
    print(f"{'stage':12}{'wall s':>9}{'share':>8}{'CPU s':>9}{'share':>8}{'CPU µs/ent':>12}")
    for stage, wall in stages["wall"].items():
        cpu = stages["cpu"][stage]
        print(
            f"{stage:12}{wall:9.2f}{wall / total_wall:8.1%}{cpu:9.2f}{cpu / total_cpu:8.1%}"
            f"{cpu / enterprises * 1e6:12.0f}"
        )
    print(
        f"{'total':12}{total_wall:9.2f}{'':8}{total_cpu:9.2f}{'':8}"
        f"{total_cpu / enterprises * 1e6:12.0f}  (one core's CPU alone: "
        f"{enterprises / total_cpu:,.0f} enterprises/s)"
    )


if __name__ == "__main__":
    main()
