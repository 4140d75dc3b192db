"""Online scoring latency: features + predict + reasons for one enterprise, as the 310
flow calls it, against LightGBM's bare predict of the same row in the same run.

Runs on the configured database (FINANCE_DATABASE_URL / FINANCE_DATA_DIR) with its
active model, e.g. after ``finance synth --load`` and ``finance credit train --promote``.

    python bench/score_online.py [--samples 2000] [--as-of YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from sqlalchemy import select

from credit.features import enterprise_features
from credit.registry import load_model
from credit.scoring import score_enterprise
from finance.core.db import session_factory
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    as_of = dt.date.fromisoformat(args.as_of)
    settings = get_settings()
    data_dir = settings.resolved_data_dir
    with session_factory()() as session:
        model = load_model(session, data_dir)
        usccs = list(session.scalars(select(Enterprise.uscc)))
        rng = random.Random(args.seed)
        chosen = [rng.choice(usccs) for _ in range(args.samples)]
        for uscc in chosen[:100]:  # warm caches and the model
            score_enterprise(session, uscc, as_of, data_dir=data_dir)

        online, features_only, bare, contrib = [], [], [], []
        for uscc in chosen:
            start = time.perf_counter()
            score_enterprise(session, uscc, as_of, data_dir=data_dir)
            online.append(time.perf_counter() - start)

            start = time.perf_counter()
            values = enterprise_features(session, uscc, as_of)
            features_only.append(time.perf_counter() - start)

            x = model.row(values)
            start = time.perf_counter()
            model.booster.predict(x, num_threads=1)
            bare.append(time.perf_counter() - start)

            start = time.perf_counter()
            model.contributions(x)
            contrib.append(time.perf_counter() - start)

    print(
        f"model {model.version}: {model.booster.num_trees()} trees, {len(model.features)} features"
    )
    print(f"{args.samples} enterprises, database {settings.sqlalchemy_url.split('://')[0]}")
    print(f"{'':34}{'p50 ms':>10}{'p99 ms':>10}")
    rows = [
        ("online score (features+PD+reasons)", online),
        ("  features only", features_only),
        ("  pred_contrib (PD + reasons)", contrib),
        ("bare LightGBM predict, one row", bare),
    ]
    for label, samples in rows:
        p50, p99 = percentiles(samples)
        print(f"{label:34}{p50 * 1e3:10.3f}{p99 * 1e3:10.3f}")
    online_p50, online_p99 = percentiles(online)
    bare_p50, bare_p99 = percentiles(bare)
    print(
        f"ratio online / bare predict: p50 {online_p50 / bare_p50:.1f}x,"
        f" p99 {online_p99 / bare_p99:.1f}x"
    )
    print(f"aim p99 <= 5 ms: {'met' if online_p99 <= 0.005 else 'NOT met'}")


if __name__ == "__main__":
    main()
