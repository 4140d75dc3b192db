"""Matching latency: one enterprise against every online product (1,000 by default):
its facts, its score by the live credit model, and every product's eligibility rules
and decision policy (``products.matching.match_enterprise``), against the online credit
score of the same enterprises alone (``credit.scoring.score_enterprise``) in the same run.

Runs on the configured database (FINANCE_DATABASE_URL / FINANCE_DATA_DIR) with its
active model and synthetic products. The reported figures use:

    finance synth --enterprises 3000 --seed 42 --end 2026-10 --load
    finance credit train --observed-until 2026-11-01 --seed 42 --promote
    python bench/matching.py --as-of 2026-11-01 [--products 1000] [--samples 300]

When fewer than ``--products`` versions are online, the script first publishes copies of
the synthetic products' terms (flagged synthetic, codes ``BENCH-MATCH-nnnn``) until there
are that many: the catalogue then has the rule mix a real one would (targets by city,
industry and size, the synthetic banks' rules and policies).

How it measures: each timed sample is an enterprise not matched before in the run, asking
for 500,000 yuan over 12 months by equal instalments; the first ``--warm-up`` samples (other
enterprises) load the model, the statements and the parsed product versions and are not
counted. Parts are timed on their own for the same enterprises: facts
(``enterprise_facts``), score (``score_enterprise``, the baseline), the list of online
versions (one query; parsed versions come from the per-process cache) and the evaluation
of every product (``match_candidates``). Wall time gives the percentiles; CPU time is shown
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
from sqlalchemy import func, select

from credit.scoring import score_enterprise
from finance.core.db import session_factory
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise
from finance.lending.schedule import RepaymentMethod
from products.facts import enterprise_facts
from products.matching import Ask, match_candidates, match_enterprise, online_candidates
from products.models import LoanProduct, ProductVersion, VersionStatus
from products.service import online_versions, publish_synthetic_versions, terms_from

ASK = Ask(50_000_000, 12, RepaymentMethod.EQUAL_INSTALMENT)


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def timed(call: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def top_up(session: Any, wanted: int) -> int:
    """Publish copies of the online synthetic versions until ``wanted`` are online."""
    online = session.scalar(select(func.count()).select_from(online_versions().subquery()))
    if online >= wanted:
        return int(online)
    templates = list(
        session.scalars(
            select(ProductVersion)
            .where(ProductVersion.status == VersionStatus.ONLINE.value)
            .order_by(ProductVersion.id)
        )
    )
    if not templates:
        raise SystemExit("no online products: load a synthetic province first")
    existing = session.scalar(select(func.count()).where(LoanProduct.code.like("BENCH-MATCH-%")))
    items = []
    for number in range(wanted - online):
        template = templates[number % len(templates)]
        product = LoanProduct(
            bank_id=template.bank_id, code=f"BENCH-MATCH-{existing + number:04d}", synthetic=True
        )
        session.add(product)
        session.flush()
        items.append((product.id, template.bank_id, terms_from(template)))
    publish_synthetic_versions(session.connection(), items, dt.datetime.now(dt.UTC))
    session.commit()
    return wanted


def matching_section(args: argparse.Namespace) -> None:
    as_of = dt.date.fromisoformat(args.as_of)
    data_dir = get_settings().resolved_data_dir
    with session_factory()() as session:
        products = top_up(session, args.products)
        usccs = sorted(session.scalars(select(Enterprise.uscc)))
        needed = args.warm_up + args.samples
        if needed > len(usccs):
            raise SystemExit(f"{needed} distinct enterprises needed, the database has {len(usccs)}")
        chosen = random.Random(args.seed).sample(usccs, needed)
        warm_up, measured = chosen[: args.warm_up], chosen[args.warm_up :]

        print(f"start: {load()}")
        ticks = cpu_ticks()
        for uscc in warm_up:
            match_enterprise(session, uscc, as_of, ASK, data_dir=data_dir)

        wall: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        eligible_counts: list[int] = []

        def record(label: str, call: Callable[[], Any]) -> Any:
            elapsed, used, result = timed(call)
            wall.setdefault(label, []).append(elapsed)
            cpu.setdefault(label, []).append(used)
            return result

        for uscc in measured:
            result = record(
                "match (facts, score, every product)",
                lambda u=uscc: match_enterprise(session, u, as_of, ASK, data_dir=data_dir),
            )
            eligible_counts.append(len(result.eligible))
            facts = record("  facts", lambda u=uscc: enterprise_facts(session, u, as_of))
            score = record(
                "  score (baseline: credit online score)",
                lambda u=uscc: score_enterprise(session, u, as_of, data_dir=data_dir),
            )
            candidates = record("  online versions (cached)", lambda: online_candidates(session))
            facts = facts.with_score_band(score.band, as_of)
            record(
                "  rules + policy of every product",
                lambda f=facts, s=score, c=candidates: match_candidates(c, f, s, ASK),
            )
            session.rollback()  # a fresh snapshot per sample, as a request has

    print(f"end: {load()}; {stolen(ticks, cpu_ticks())}")
    print(
        f"{products} online product versions; database {session.get_bind().dialect.name};"
        f" as of {as_of}; eligible per enterprise: median {statistics.median(eligible_counts)},"
        f" max {max(eligible_counts)}"
    )
    print(
        f"{args.samples} timed samples per row, each an enterprise not matched before in the"
        f" run; {args.warm_up} warm-up samples not counted"
    )
    print(f"{'':42}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU p50':>9}{'CPU p95':>9}")
    for label, samples in wall.items():
        ordered, used = sorted(samples), sorted(cpu[label])
        print(
            f"{label:42}{percentile(ordered, 0.5) * 1e3:9.2f}{percentile(ordered, 0.95) * 1e3:9.2f}"
            f"{percentile(ordered, 0.99) * 1e3:9.2f}{percentile(used, 0.5) * 1e3:9.2f}"
            f"{percentile(used, 0.95) * 1e3:9.2f}"
        )
    whole = sorted(wall["match (facts, score, every product)"])
    base = sorted(wall["  score (baseline: credit online score)"])
    p50, p95 = percentile(whole, 0.5), percentile(whole, 0.95)
    print(
        f"ratio match / online score: p50 {p50 / percentile(base, 0.5):.1f}x,"
        f" p95 {p95 / percentile(base, 0.95):.1f}x"
    )
    print(f"aim p95 <= 50 ms: {'met' if p95 <= 0.050 else 'NOT met'} (p95 {p95 * 1e3:.1f} ms)")
    cpu95 = percentile(sorted(cpu["match (facts, score, every product)"]), 0.95)
    print(f"  (CPU time of a match, p95 {cpu95 * 1e3:.1f} ms: the wall time less waiting)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("== matching: one enterprise against every online product ==")
    matching_section(args)


if __name__ == "__main__":
    main()
