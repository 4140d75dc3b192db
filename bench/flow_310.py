"""Benchmark: the 310 flow's machine side. N applications submitted concurrently through
the HTTP API (``finance serve``), decided by one and then two ``finance worker``
processes on the configured broker: submission-to-decision latency (p50/p95/p99, from
each application's own ``submitted_at`` and ``decided_at``) and decisions per second,
beside the submit request's own latency measured in the same run (the baseline: what
the web side costs before any decision work).

    python bench/flow_310.py [--applications 200] [--concurrency 20] [--workers 1,2]
                             [--rates 0,20]

Each round submits all at once (rate 0: the throughput, latency then includes the
queue's wait) and paced at each given rate (the latency at that offered load; the aim
is p95 <= 1 s at 20 decisions/s on Redis).

Runs on ``FINANCE_BROKER_URL`` (Redis, e.g. redis://127.0.0.1:6379/1) or the embedded
SQLite broker when unset, and on ``FINANCE_DATABASE_URL`` (PostgreSQL: a database of its
own, dropped at the end) or a fresh SQLite file. Setup, not timed: ``finance init``, a
small synthetic province (``finance synth --enterprises 3000 --load``), a model trained
and promoted on it, a bank with an active client and an auto-deciding product version
(tax data consented), and authenticated enterprise users logged in over HTTP; each
round's drafts are opened before its clock starts. Every decision goes the whole way:
the consented read through the guard with its ledger entry, point-in-time features, the
live model, the rules and the policy, the transitions and the decision row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from machine import cpu_ticks, load, stolen
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from authz.models import ClientStatus, OAuthClient, Role, UserKind
from finance.core.db import make_engine, transaction
from finance.core.settings import Settings
from finance.enterprises.models import Enterprise
from finance.govdata.models import data_table
from finance.institutions.models import Bank
from finance.lending.models import ApplicationDecision, LoanApplication
from products.models import LoanProduct, ProductVersion

PASSWORD = "bench-password-310"
POLICY: dict[str, Any] = {
    "approve_min_score": 300,
    "refer_min_score": 300,
    "amount": {"combine": "min", "terms": [{"fact": "tax_paid_12m", "times": "100"}]},
    "rates": {"A": "3.65", "B": "4.2", "C": "5.5", "D": "5.9", "E": "5.95"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted samples."""
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def new_database(url: str) -> tuple[str, Any]:
    name = f"bench_{secrets.token_hex(4)}"
    server = make_url(Settings(database_url=url).sqlalchemy_url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return server.set(database=name).render_as_string(hide_password=False), admin


def seed(url: str, users: int) -> tuple[int, list[str]]:
    """A bank with an active client and an auto-deciding product; ``users`` enterprise
    users (authenticated) of synthetic enterprises that have tax data."""
    from authz.accounts import service as accounts

    engine = make_engine(Settings(database_url=url).sqlalchemy_url)
    now = dt.datetime.now(dt.UTC)
    tax = data_table("tax")
    with transaction(engine) as session:
        bank = Bank(code="BENCH310", name="基准银行", name_en="Bench bank", kind="city_commercial")
        session.add(bank)
        session.flush()
        admin = accounts.create_user(
            session,
            username="bench_bank",
            password=PASSWORD,
            kind=UserKind.BANK,
            roles=[Role.BANK_ADMIN],
            now=now,
            bank_id=bank.id,
        )
        session.add(
            OAuthClient(
                client_id="bench-310-" + secrets.token_hex(4),
                bank_id=bank.id,
                name="bench",
                redirect_uris=["https://bench.example/cb"],
                jwks={"keys": []},
                token_endpoint_auth_method="private_key_jwt",
                status=ClientStatus.ACTIVE.value,
                registered_by=admin.id,
                registered_at=now,
                approved_by=admin.id,
                approved_at=now,
            )
        )
        product = LoanProduct(bank_id=bank.id, code="BENCH-310")
        session.add(product)
        session.flush()
        version = ProductVersion(
            product_id=product.id,
            bank_id=bank.id,
            number=1,
            status="online",
            name="税易贷",
            name_en="Tax loan",
            description="",
            guarantee="pure_credit",
            min_amount_fen=1_000_000,
            max_amount_fen=300_000_000,
            default_amount_fen=10_000_000,
            min_term_months=3,
            max_term_months=36,
            rate_min_pct=Decimal("3.45"),
            rate_max_pct=Decimal("6"),
            repayment_methods=["equal_instalment"],
            fees=[],
            cities=[],
            industries=[],
            sizes=[],
            data_categories=["tax"],
            consent_months=24,
            eligibility=[],
            policy=POLICY,
            auto_decision=True,
            created_by="bench",
            created_at=now,
            updated_at=now,
            online_at=now,
        )
        session.add(version)
        session.flush()
        with_tax = (
            select(Enterprise.uscc)
            .where(Enterprise.uscc.in_(select(tax.c.uscc).distinct()))
            .order_by(Enterprise.uscc)
            .limit(users)
        )
        names = []
        for number, uscc in enumerate(session.scalars(with_tax)):
            user = accounts.create_user(
                session,
                username=f"bench_rep_{number}",
                password=PASSWORD,
                kind=UserKind.ENTERPRISE,
                roles=[Role.LEGAL_REP],
                now=now,
                uscc=uscc,
            )
            user.authenticated_at = now
            names.append(user.username)
        version_id = version.id
    engine.dispose()
    return version_id, names


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """The cookies a response sets. The portal's cookies are ``Secure`` and the bench
    talks plain HTTP to 127.0.0.1, so they are carried by hand."""
    jar = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def login(base: str, username: str) -> tuple[httpx.Client, str]:
    page = httpx.get(base + "/login")
    marker = 'name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    csrf = page.text[start : page.text.index('"', start)]
    anonymous = "; ".join(f"{k}={v}" for k, v in _set_cookies(page).items())
    response = httpx.post(
        base + "/login",
        data={"username": username, "password": PASSWORD, "next": "/api/v1/me", "csrf_token": csrf},
        headers={"Cookie": anonymous},
        follow_redirects=False,
    )
    if response.status_code != 303:
        raise SystemExit(f"login failed: {response.status_code} {response.text[:200]}")
    session = "; ".join(f"{k}={v}" for k, v in _set_cookies(response).items())
    client = httpx.Client(base_url=base, timeout=60, headers={"Cookie": session})
    return client, response.headers["x-csrf-token"]


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=out, start_new_session=True)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def run_round(
    base: str,
    url: str,
    portals: list[tuple[httpx.Client, str]],
    version_id: int,
    applications: int,
    concurrency: int,
    timeout: float,
    rate: float = 0.0,
) -> dict[str, Any]:
    drafts = []
    for number in range(applications):
        client, csrf = portals[number % len(portals)]
        response = client.post(
            "/api/v1/applications",
            json={
                "product_version_id": version_id,
                "amount_fen": 20_000_000,
                "term_months": 12,
                "repayment_method": "equal_instalment",
                "purpose": "流动资金",
            },
            headers={"X-CSRF-Token": csrf},
        )
        if response.status_code != 201:
            raise SystemExit(f"draft refused: {response.text[:300]}")
        drafts.append((client, csrf, response.json()["id"]))

    clock = time.perf_counter() + 0.5

    def submit(numbered: tuple[int, tuple[httpx.Client, str, int]]) -> float:
        index, (client, csrf, application_id) = numbered
        if rate > 0:  # paced: application i leaves at i / rate seconds
            time.sleep(max(0.0, clock + index / rate - time.perf_counter()))
        began = time.perf_counter()
        response = client.post(
            f"/api/v1/applications/{application_id}/submit",
            json={"consent": True},
            headers={"X-CSRF-Token": csrf, "Idempotency-Key": secrets.token_hex(8)},
        )
        if response.status_code != 201:
            raise SystemExit(f"submit refused: {response.text[:300]}")
        return time.perf_counter() - began

    ids = [application_id for _, _, application_id in drafts]
    engine = make_engine(Settings(database_url=url).sqlalchemy_url)
    with ThreadPoolExecutor(concurrency) as pool:
        submit_seconds = sorted(pool.map(submit, enumerate(drafts)))
    deadline = time.monotonic() + timeout
    decided = 0
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            decided = (
                connection.scalar(
                    select(func.count())
                    .select_from(ApplicationDecision)
                    .where(ApplicationDecision.application_id.in_(ids))
                )
                or 0
            )
        if decided == len(ids):
            break
        time.sleep(0.2)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                LoanApplication.submitted_at, LoanApplication.decided_at, LoanApplication.status
            ).where(LoanApplication.id.in_(ids))
        ).all()
    engine.dispose()
    done = [r for r in rows if r.decided_at is not None]
    latencies = sorted((r.decided_at - r.submitted_at).total_seconds() for r in done)
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row.status] = outcomes.get(row.status, 0) + 1
    span = (
        (max(r.decided_at for r in done) - min(r.submitted_at for r in rows)).total_seconds()
        if done
        else float("nan")
    )
    return {
        "decided": len(done),
        "outcomes": outcomes,
        "latencies": latencies,
        "submit": submit_seconds,
        "per_second": len(done) / span if done else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workers", default="1,2", help="worker processes per round")
    parser.add_argument("--threads", type=int, default=2, help="task threads per worker")
    parser.add_argument("--enterprises", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--rates",
        default="0,20",
        help="submissions per second per round (0: all at once, the throughput)",
    )
    args = parser.parse_args()
    rounds = [int(n) for n in args.workers.split(",")]
    rates = [float(r) for r in args.rates.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="bench-310-"))
    url = os.environ.get("FINANCE_DATABASE_URL") or f"sqlite:///{tmp / 'finance.db'}"
    admin = None
    if url.startswith("postgres"):
        url, admin = new_database(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    queue = f"bench-310-{secrets.token_hex(3)}"
    env = {
        **os.environ,
        "FINANCE_DATABASE_URL": url,
        "FINANCE_DATA_DIR": str(tmp),
        "FINANCE_PUBLIC_URL": base,
        "FINANCE_LOG_LEVEL": "WARNING",
        "FINANCE_LENDING_QUEUE": queue,
    }
    finance = [sys.executable, "-m", "finance.cli.main"]
    log = tmp / "processes.log"
    server = None
    workers: list[subprocess.Popen[bytes]] = []

    def quiet(*argv: str) -> None:
        subprocess.run([*finance, *argv], env=env, check=True, stdout=subprocess.DEVNULL)

    try:
        quiet("init")
        end = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        print(
            f"setup: synthetic province of {args.enterprises} enterprises, a model ...", flush=True
        )
        quiet("synth", "--enterprises", str(args.enterprises), "--end", end, "--load")
        quiet("credit", "train", "--promote", "--seed", "1")
        version_id, usernames = seed(url, max(4, args.concurrency // 2))
        server = start([*finance, "serve", "--port", str(port)], env, log)
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        portals = [login(base, name) for name in usernames]
        broker = os.environ.get("FINANCE_BROKER_URL") or "embedded SQLite broker"
        database = "postgresql" if url.startswith("postgresql") else "sqlite"
        print(
            f"{args.applications} applications, {args.concurrency} concurrent submitters, "
            f"finance serve (1 process) + N finance worker x {args.threads} threads; "
            f"{database}, broker {broker}; {os.cpu_count()} CPUs; {load()}",
            flush=True,
        )
        print(
            f"{'workers':>7} {'offered':>8} | {'decided':>7} | "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} | "
            f"{'dec/s':>6} | {'submit p50':>10} {'p95':>7} | {'p50 ratio':>9} | outcomes"
        )
        for count in rounds:
            while len(workers) < count:
                workers.append(
                    start(
                        [
                            *finance,
                            "worker",
                            "--queues",
                            queue,
                            "--concurrency",
                            str(args.threads),
                            "--loglevel",
                            "WARNING",
                            "--hostname",
                            f"bench{len(workers)}@%h",
                        ],
                        env,
                        log,
                    )
                )
            time.sleep(5)  # the workers connect and load their code
            # Warm-up: each worker process loads the model on its first task.
            run_round(base, url, portals, version_id, 2 * count * args.threads, 4, args.timeout)
            for rate in rates:
                ticks = cpu_ticks()
                result = run_round(
                    base,
                    url,
                    portals,
                    version_id,
                    args.applications,
                    args.concurrency,
                    args.timeout,
                    rate,
                )
                offered = "burst" if rate <= 0 else f"{rate:g}/s"
                latencies, submit = result["latencies"], result["submit"]
                if not latencies:
                    print(f"{count:>7} {offered:>8} | nothing decided within {args.timeout:.0f} s")
                    continue
                p50 = percentile(latencies, 0.5) * 1000
                submit_p50 = percentile(submit, 0.5) * 1000
                print(
                    f"{count:>7} {offered:>8} | {result['decided']:>7} | {p50:>7.0f} "
                    f"{percentile(latencies, 0.95) * 1000:>7.0f} "
                    f"{percentile(latencies, 0.99) * 1000:>7.0f} | "
                    f"{result['per_second']:>6.1f} | "
                    f"{submit_p50:>8.0f}ms {percentile(submit, 0.95) * 1000:>5.0f}ms | "
                    f"{p50 / submit_p50:>8.1f}x | {result['outcomes']}  "
                    f"({stolen(ticks, cpu_ticks())}; {load()})",
                    flush=True,
                )
    finally:
        for process in workers:
            stop(process)
        stop(server)
        if admin is not None:
            name = make_url(url).database
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
