"""Online scoring latency: features + predict + reasons for one enterprise, as the 310
flow calls it (``credit.scoring.score_enterprise``, reading the live model's version in
the features' statement), against LightGBM's bare predict of the same kind of row in the
same run.

Runs on the configured database (FINANCE_DATABASE_URL / FINANCE_DATA_DIR) with its
active model. The reported figures use the default province and its model:

    finance synth --seed 42 --end 2026-10 --load        # 10,000 enterprises x 36 months
    finance credit train --observed-until 2026-11-01 --seed 42 --promote
    python bench/score_online.py --as-of 2026-11-01 [--samples 3000] [--seed 0]

How it measures: every timed call scores an enterprise not scored before in the run
(sampled without replacement), so no database page or result is warm from an earlier
sample of the same enterprise; the first ``--warm-up`` calls (other enterprises) load
the model and the statements and are not counted. The features-only timings use another
disjoint set of enterprises; bare predict and the contributions (TreeSHAP) run on those rows.
Wall time (``perf_counter``) gives the percentiles; CPU time (``process_time``) is shown
beside it because the machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from machine import cpu_ticks, load, stolen
from sqlalchemy import select

from credit.features import feature_columns
from credit.features.service import one_request
from credit.registry import active_version, load_model
from credit.scoring import score_enterprise
from finance.core.db import session_factory
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    as_of = dt.date.fromisoformat(args.as_of)
    settings = get_settings()
    data_dir = settings.resolved_data_dir
    print(f"start: {load()}")
    ticks = cpu_ticks()
    with session_factory()() as session:
        model = load_model(session, data_dir)
        usccs = sorted(session.scalars(select(Enterprise.uscc)))
        needed = args.warm_up + 2 * args.samples
        if needed > len(usccs):
            parser.error(f"{needed} distinct enterprises needed, the database has {len(usccs)}")
        chosen = random.Random(args.seed).sample(usccs, needed)
        warm_up = chosen[: args.warm_up]
        online_set = chosen[args.warm_up : args.warm_up + args.samples]
        features_set = chosen[args.warm_up + args.samples :]

        for uscc in warm_up:
            score_enterprise(session, uscc, as_of, data_dir=data_dir)

        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}

        def record(label: str, call: Callable[[], Any]) -> Any:
            elapsed, used, result = timed(call)
            wall.setdefault(label, []).append(elapsed)
            cpu.setdefault(label, []).append(used)
            return result

        for online_uscc, features_uscc in zip(online_set, features_set, strict=True):
            record(
                "online score (features+PD+reasons)",
                lambda u=online_uscc: score_enterprise(session, u, as_of, data_dir=data_dir),
            )
            columns = record(
                "  features only",
                lambda u=features_uscc: feature_columns(session, one_request(u, as_of)),
            )
            # Online, the live version is read inside the features' statement; alone, it
            # would cost this (a round trip of its own).
            record("  live-model lookup alone", lambda: active_version(session))
            x = model.matrix(columns)
            record("  contributions (PD + reasons)", lambda x=x: model.contributions(x))
            record(
                "bare LightGBM predict, one row",
                lambda x=x: model.booster.predict(x, num_threads=1),
            )

    print(f"end: {load()}; {stolen(ticks, cpu_ticks())}")
    print(
        f"model {model.version}: {model.booster.num_trees()} trees, {len(model.features)} features;"
        f" database {session.get_bind().dialect.name}; as of {as_of}"
    )
    print(
        f"{args.samples} timed calls per row, each on an enterprise not seen before in the run;"
        f" {args.warm_up} warm-up calls not counted"
    )
    print(f"{'':36}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'CPU mean ms':>13}")
    for label, samples in wall.items():
        ordered = sorted(samples)
        print(
            f"{label:36}{percentile(ordered, 0.5) * 1e3:9.3f}{percentile(ordered, 0.99) * 1e3:9.3f}"
            f"{ordered[-1] * 1e3:9.3f}{statistics.fmean(cpu[label]) * 1e3:13.3f}"
        )
    online = sorted(wall["online score (features+PD+reasons)"])
    bare = sorted(wall["bare LightGBM predict, one row"])
    p50, p99 = percentile(online, 0.5), percentile(online, 0.99)
    bare50, bare99 = percentile(bare, 0.5), percentile(bare, 0.99)
    print(f"ratio online / bare predict: p50 {p50 / bare50:.1f}x, p99 {p99 / bare99:.1f}x")
    print(f"aim p99 <= 5 ms: {'met' if p99 <= 0.005 else 'NOT met'} (p99 {p99 * 1e3:.2f} ms)")


if __name__ == "__main__":
    main()
