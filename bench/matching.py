"""Matching latency, and catalogue search latency, over 1,000 online products.

Matching: one enterprise against every online product (1,000 by default):
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
counted; before them the bench does what a server process does once started
(``finance.warmup``: load the live model and the catalogue, then ``gc.freeze()``). Parts
are timed on their own for the same enterprises: facts (``enterprise_facts``), score
(``score_enterprise``, the baseline), the list of online versions (one query; parsed
versions come from the per-process cache) and the evaluation of every product
(``match_candidates``). Wall time gives the percentiles; CPU time is shown beside it
because the machine may be shared. Offers are priced through a cache of terms
(``finance.lending.schedule.priced``); the run prints how many were computed and how many
came from it (the copied catalogue and the one as-of date share terms more than a real
catalogue and a day of real requests would).

Catalogue search (``--sections search``, no model needed): the public search
(``products.catalogue.search``, what ``GET /api/v1/products`` runs) with random filter
combinations a visitor of the product supermarket would use (city, industry, size,
amount, term, guarantee, repayment method, highest rate, text, sort; every third query
fetches the next page by its cursor), each timed in the service and over HTTP to the app
in its own uvicorn process, against the unfiltered first page in the same run as the
baseline.

    python bench/matching.py --sections search [--products 1000] [--samples 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
from machine import cpu_ticks, load, stolen
from sqlalchemy import func, select, text

from credit.scoring import score_enterprise
from finance.core.db import session_factory
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise
from finance.lending.schedule import RepaymentMethod, priced
from finance.warmup import freeze, warm
from products.catalogue import search
from products.facts import enterprise_facts
from products.matching import Ask, match_candidates, match_enterprise, online_candidates
from products.models import LoanProduct, ProductVersion, VersionStatus
from products.schemas import CataloguePage
from products.service import (
    CatalogueFilters,
    online_versions,
    publish_synthetic_versions,
    terms_from,
)

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

        # What a server process does once started (finance.warmup, the app's lifespan).
        warm(session_factory(), data_dir)
        freeze()
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
    prices = priced.cache_info()
    print(
        f"offers priced (schedule + APR): {prices.misses} computed, {prices.hits} taken from"
        " the cache of terms already priced (products sharing amount, rate, term, method, fees)"
    )
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


CITIES = ("410100", "410300", "410400", "410700", "411000", "411300", "411500")
TEXTS = ("贷", "税", "科技", "信用", "e", "Loan", "抵押")
UNFILTERED: dict[str, Any] = {"sort": "rate", "limit": 20}


def random_query(rng: random.Random) -> dict[str, Any]:
    """Two to four filters (query-string form), a sort order and a page size."""
    choices: dict[str, Callable[[], Any]] = {
        "city": lambda: rng.choice(CITIES),
        "industry": lambda: rng.choice("ACEFIM"),
        "size": lambda: rng.choice(("micro", "small", "medium")),
        "amount_fen": lambda: rng.choice((500_000, 1_000_000, 3_000_000, 10_000_000)) * 100,
        "term_months": lambda: rng.choice((6, 12, 24, 36)),
        "guarantee": lambda: [rng.choice(("pure_credit", "mortgage", "guaranteed", "pledge"))],
        "method": lambda: rng.choice(list(RepaymentMethod)).value,
        "max_rate_pct": lambda: rng.choice(("4.0", "4.5", "5.0")),
        "q": lambda: rng.choice(TEXTS),
    }
    picked = rng.sample(sorted(choices), rng.randint(2, 4))
    query = {name: choices[name]() for name in picked}
    query["sort"] = rng.choice(("rate", "-amount", "term", "newest", "name"))
    query["limit"] = 20
    return query


def _filters(query: dict[str, Any]) -> CatalogueFilters:
    return CatalogueFilters(
        guarantee=query.get("guarantee"),
        amount_fen=query.get("amount_fen"),
        term_months=query.get("term_months"),
        max_rate_pct=Decimal(query["max_rate_pct"]) if "max_rate_pct" in query else None,
        city=query.get("city"),
        industry=query.get("industry"),
        size=query.get("size"),
        method=query.get("method"),
        text=query.get("q"),
    )


@contextmanager
def served() -> Iterator[str]:
    """The app in its own uvicorn process (one worker) on loopback, on the same database;
    yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "uvicorn", "finance.asgi:app", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("uvicorn did not start") from None
                time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


def search_section(args: argparse.Namespace) -> None:
    with session_factory()() as session:
        products = top_up(session, args.products)
        if session.get_bind().dialect.name == "postgresql":
            # Planner statistics for the rows just published, as autovacuum would gather.
            session.execute(text("ANALYZE product_versions, product_version_targets"))
            session.commit()
    rng = random.Random(args.seed)
    queries = [random_query(rng) for _ in range(args.warm_up + args.samples)]
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    found: list[int] = []

    def record(label: str, call: Callable[[], Any]) -> Any:
        elapsed, used, result = timed(call)
        wall.setdefault(label, []).append(elapsed)
        cpu.setdefault(label, []).append(used)
        return result

    def in_service(query: dict[str, Any], cursor: str | None = None) -> CataloguePage:
        with session_factory()() as session:  # one session per request, as the endpoint has
            return search(session, _filters(query), query["sort"], cursor, query["limit"])

    with served() as base_url, httpx.Client(base_url=base_url) as http:
        for query in queries[: args.warm_up]:
            in_service(query)
            http.get("/api/v1/products", params=query)
        print(f"start: {load()}")
        ticks = cpu_ticks()
        for number, query in enumerate(queries[args.warm_up :]):
            record(
                "unfiltered first page (baseline)",
                lambda: in_service({"sort": "rate", "limit": 20}),
            )
            page = record("search (service)", lambda q=query: in_service(q))
            found.append(len(page.items))
            response = record(
                "search (HTTP to uvicorn)", lambda q=query: http.get("/api/v1/products", params=q)
            )
            assert response.status_code == 200, response.text
            if number % 3 == 0 and page.next_cursor is not None:
                record(
                    "next page by cursor (service)",
                    lambda q=query, c=page.next_cursor: in_service(q, c),
                )
        print(f"end: {load()}; {stolen(ticks, cpu_ticks())}")
    database = session_factory()().get_bind().dialect.name
    print(
        f"{products} online product versions; database {database}; {args.samples} random"
        f" filter combinations (2-4 filters, a sort, 20 a page); items on the first page:"
        f" median {statistics.median(found)}, empty pages {sum(1 for n in found if n == 0)}"
    )
    print(f"{'':42}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU mean ms':>13}")
    for label, samples in wall.items():
        ordered = sorted(samples)
        print(
            f"{label:42}{percentile(ordered, 0.5) * 1e3:9.2f}{percentile(ordered, 0.95) * 1e3:9.2f}"
            f"{percentile(ordered, 0.99) * 1e3:9.2f}{statistics.fmean(cpu[label]) * 1e3:13.2f}"
        )
    service = sorted(wall["search (service)"])
    over_http = sorted(wall["search (HTTP to uvicorn)"])
    base = sorted(wall["unfiltered first page (baseline)"])
    ratio50 = percentile(service, 0.5) / percentile(base, 0.5)
    ratio95 = percentile(service, 0.95) / percentile(base, 0.95)
    print(f"ratio search / unfiltered page: p50 {ratio50:.1f}x, p95 {ratio95:.1f}x")
    p95 = percentile(over_http, 0.95)
    verdict = "met" if p95 <= 0.030 else "NOT met"
    print(f"aim p95 <= 30 ms (HTTP): {verdict} (p95 {p95 * 1e3:.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.UTC).date().isoformat())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sections", nargs="+", choices=("matching", "search"), default=["matching", "search"]
    )
    args = parser.parse_args()
    if "matching" in args.sections:
        print("== matching: one enterprise against every online product ==")
        matching_section(args)
    if "search" in args.sections:
        print("== catalogue search: random filters over the online products ==")
        search_section(args)


if __name__ == "__main__":
    main()
