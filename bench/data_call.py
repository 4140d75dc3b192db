"""Benchmark: an authorised, DPoP-bound data call (tax, 12 months) against a bare JSON
endpoint (/healthz) in the same ``finance serve`` and the same run, at 1, 8 and 32
concurrent clients. Prints p50/p99 latency, throughput and the throughput ratio.

    python bench/data_call.py [--seconds 10] [--workers 2]

The load generator is ``wrk`` (a C HTTP benchmark with a Lua hook), so that it is not
the bottleneck: install it with ``apt-get install wrk`` (Debian/Ubuntu) or
``brew install wrk`` (macOS). Each cell opens as many connections as it has clients.
Right before a data cell the bench obtains fresh DPoP-bound access tokens over HTTP (one
consent each; at least ``MIN_TOKENS`` so no consent's daily limit is reached) and signs
enough DPoP proofs for them, each with a unique ``jti`` and a fresh ``iat``;
``bench/data_call.lua`` hands each proof out once and counts every answer that is not
200. Every data call still goes through the whole guard: JWT verification, per-client
rate limit, DPoP proof with its replay check, token and client status, consent coverage,
daily limit, the read, and a hash-chained ledger append. A probe call before each cell
checks the body holds the 12 months asked for, and the ledger is verified at the end.

The database is ``FINANCE_DATABASE_URL`` when set (PostgreSQL: a database of its own,
dropped at the end), else a fresh SQLite file; set ``FINANCE_REDIS_URL`` too for the
production configuration (rate limits and DPoP ``jti``s in Redis). The ``cpu`` columns
are the server processes' CPU time per call over the cell (from /proc), wrk's excluded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from authz.consents import service as consents
from authz.ledger import service as ledger
from authz.models import ClientStatus, LedgerEntry, OAuthClient, Role, UserKind
from authz.oauth.dpop import access_token_hash
from finance.core.db import make_engine, transaction
from finance.core.settings import Settings
from finance.enterprises.models import Enterprise
from finance.enterprises.uscc import with_check_character
from finance.govdata.models import data_table
from finance.ingestion.models import IngestBatch
from finance.institutions.models import Bank

LEVELS = (1, 8, 32)
MIN_TOKENS = 8
MAX_CALLS_PER_CONSENT = 10_000
SCRIPT = Path(__file__).with_name("data_call.lua")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(url: str, consents_needed: int) -> tuple[str, str, ECKey, list[str]]:
    """An enterprise with two years of tax data, a bank, an active client and one
    Authorised platform-initiated consent per concurrent client."""
    from authz.accounts import service as accounts

    engine = make_engine(Settings(database_url=url).sqlalchemy_url)
    now = dt.datetime.now(dt.UTC)
    client_key = ECKey.generate_key(
        "P-256", parameters={"alg": "ES256", "kid": "bench"}, private=True
    )
    with transaction(engine) as session:
        batch = IngestBatch(
            category="tax",
            source_department="tax_bureau",
            file_name="bench.csv",
            file_sha256="0" * 64,
            file_bytes=1,
            file_format="csv",
            as_of_date=dt.date(2026, 10, 31),
            ingested_by="bench",
            status="loaded",
        )
        session.add(batch)
        session.flush()
        uscc = with_check_character("91410100MA" + secrets.choice("123456789") + "654321")
        session.add(
            Enterprise(
                uscc=uscc,
                name="基准测试企业",
                legal_rep_name="李四",
                legal_rep_id_number="410102198001011234",
                founded_on=dt.date(2015, 1, 1),
                registered_capital_fen=10**8,
                status="active",
                division_code="410100",
                city_code="410100",
                industry_section="C",
                industry_division="13",
                size_class="small",
                record_date=dt.date(2026, 1, 1),
            )
        )
        session.flush()
        session.execute(
            insert(data_table("tax")),
            [
                {
                    "uscc": uscc,
                    "period": dt.date(2024 + (10 + i) // 12, (10 + i) % 12 + 1, 1),
                    "vat_paid_fen": 1000 * i,
                    "cit_paid_fen": 100,
                    "iit_withheld_fen": 50,
                    "other_paid_fen": 10,
                    "arrears_fen": 0,
                    "credit_rating": "A",
                    "source_department": "tax_bureau",
                    "batch_id": batch.id,
                    "ingested_at": now,
                    "as_of_date": dt.date(2026, 10, 31),
                }
                for i in range(24)
            ],
        )
        bank = Bank(code="BENCH", name="基准银行", name_en="Bench Bank", kind="other")
        session.add(bank)
        session.flush()
        admin = accounts.create_user(
            session,
            username="bench_admin",
            password=secrets.token_urlsafe(16),
            kind=UserKind.BANK,
            roles=[Role.BANK_ADMIN],
            now=now,
            bank_id=bank.id,
        )
        rep = accounts.create_user(
            session,
            username="bench_rep",
            password=secrets.token_urlsafe(16),
            kind=UserKind.ENTERPRISE,
            roles=[Role.LEGAL_REP],
            now=now,
            uscc=uscc,
        )
        rep.authenticated_at = now
        public = client_key.as_dict(private=False)
        client = OAuthClient(
            client_id="bench-client",
            bank_id=bank.id,
            name="bench",
            redirect_uris=["https://bench.example/cb"],
            jwks={"keys": [public]},
            token_endpoint_auth_method="private_key_jwt",
            status=ClientStatus.ACTIVE.value,
            registered_by=admin.id,
            registered_at=now,
        )
        session.add(client)
        session.flush()
        consent_ids = []
        for _ in range(consents_needed):
            consent = consents.create(
                session,
                client=client,
                uscc=uscc,
                categories=["tax"],
                data_from=dt.date(2025, 11, 1),
                data_to=dt.date(2026, 10, 31),
                purpose="benchmark",
                expires_at=now + dt.timedelta(days=1),
                max_calls_per_day=MAX_CALLS_PER_CONSENT,
                now=now,
                origin="platform",
            )
            consents.authorise(session, consent, rep, now)
            consent_ids.append(consent.id)
        assert session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == "bench-client"))
    engine.dispose()
    return uscc, client.client_id, client_key, consent_ids


def proof(key: ECKey, method: str, url: str, access_token: str | None = None) -> str:
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(12),
        "htm": method,
        "htu": url,
        "iat": int(time.time()),
    }
    if access_token is not None:
        claims["ath"] = access_token_hash(access_token)
    return jwt.encode(
        {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}, claims, key
    )


def data_token(base: str, client_id: str, client_key: ECKey, consent_id: str) -> tuple[str, ECKey]:
    dpop_key = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, private=True)
    now = int(time.time())
    assertion = jwt.encode(
        {"alg": "ES256", "kid": client_key.kid},
        {
            "iss": client_id,
            "sub": client_id,
            "aud": base,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(12),
        },
        client_key,
    )
    response = httpx.post(
        base + "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "consent_id": consent_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        headers={"DPoP": proof(dpop_key, "POST", base + "/oauth2/token")},
    )
    response.raise_for_status()
    body = response.json()
    assert body["token_type"] == "DPoP"
    return body["access_token"], dpop_key


def sign_proofs(
    credentials: list[tuple[str, ECKey]], url: str, count: int, query: str
) -> list[str]:
    """``count`` request lines for the Lua script, dealt round-robin over the tokens."""
    path = url.split("://", 1)[1].split("/", 1)[1]
    lines = []
    for index in range(count):
        token, key = credentials[index % len(credentials)]
        lines.append(f"/{path}?{query}\t{token}\t{proof(key, 'GET', url, token)}")
    return lines


def run_wrk(base: str, lines: list[str], clients: int, seconds: float, tmp: Path) -> dict[str, Any]:
    """One cell: ``clients`` connections for ``seconds``; wrk's figures and the count of
    answers that were not 200."""
    requests_file = tmp / "requests.txt"
    requests_file.write_text("\n".join(lines) + "\n")
    threads = min(2, clients)
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={clients}",
        f"--duration={seconds:.0f}s",
        "--timeout=10s",
        f"--script={SCRIPT}",
        base,
        "--",
        str(requests_file),
        str(threads),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = result["non_200"] + result["socket_errors"] + result["timeouts"]
            return result
    raise SystemExit(f"wrk printed no result:\n{output}")


def group_cpu_seconds(group: int) -> float:
    """User + system CPU seconds used so far by the processes of process group ``group``
    (the server and its workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def summarise_stacks(path: Path, top: int = 25) -> None:
    """Where the sampled time went: py-spy's collapsed stacks (one ``frame;frame;...
    count`` line per distinct stack) as the share of samples in which each function was
    running (self) or on the stack (total), the idle waits left out."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    idle = ("select (selectors.py", "wait (threading.py", "_worker (concurrent", "get (queue.py")
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [
            frame.split(" (")[0] + " (" + frame.rsplit("/", 1)[-1] for frame in stack.split(";")
        ]
        if any(frame.startswith(idle) for frame in frames[-1:]):
            continue
        count = int(count_text)
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    print(f"py-spy: {samples} busy samples; by own time, then by time on the stack")
    for title, table in (("self", own), ("total", total)):
        for frame, count in sorted(table.items(), key=lambda item: -item[1])[:top]:
            print(f"  {title:>5} {count / max(1, samples):6.1%}  {frame}")


def stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def new_database(url: str) -> tuple[str, Any]:
    """A PostgreSQL database of the bench's own, and the admin engine that drops it."""
    name = f"bench_{secrets.token_hex(4)}"
    server = make_url(Settings(database_url=url).sqlalchemy_url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return server.set(database=name).render_as_string(hide_password=False), admin


def verify_ledger(url: str) -> tuple[int, int, str]:
    """Entries, allowed data calls, and whether the chain verifies."""
    engine = make_engine(Settings(database_url=url).sqlalchemy_url)
    try:
        with transaction(engine) as session:
            allowed = session.scalar(
                select(func.count()).where(
                    LedgerEntry.action == "data_call", LedgerEntry.outcome == "allowed"
                )
            )
            verification = ledger.verify(session)
    finally:
        engine.dispose()
    broken = verification.broken
    verdict = "intact" if broken is None else f"BROKEN at {broken.seq}: {broken.reason}"
    return verification.entries, int(allowed or 0), verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="sample the server's processes with py-spy during the last data cell into FILE "
        "(collapsed stacks of the threads holding the GIL) and print where the time went",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench/data_call.py needs wrk, the HTTP load generator: "
            "`apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"
        )

    tmp = Path(tempfile.mkdtemp(prefix="bench-data-call-"))
    url = os.environ.get("FINANCE_DATABASE_URL") or f"sqlite:///{tmp / 'finance.db'}"
    admin = None
    if url.startswith("postgres"):
        url, admin = new_database(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "FINANCE_DATABASE_URL": url,
        "FINANCE_DATA_DIR": str(tmp),
        "FINANCE_PUBLIC_URL": base,
        "FINANCE_CLIENT_RATE_PER_MINUTE": str(10**9),
        "FINANCE_LOG_LEVEL": "WARNING",
    }
    finance = [sys.executable, "-m", "finance.cli.main"]
    server = None
    try:
        subprocess.run([*finance, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
        tokens_per_level = [max(level, MIN_TOKENS) for level in LEVELS]
        uscc, client_id, client_key, consent_ids = seed(url, sum(tokens_per_level))
        server = subprocess.Popen(
            [*finance, "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the workers stop with it
        )
        deadline = time.monotonic() + 180  # a loaded machine starts the workers slowly
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start within 180 s") from None
                time.sleep(0.2)
        path = f"/api/v1/data/enterprises/{uscc}/tax"
        query = "date_from=2025-11-01&date_to=2026-10-31"
        database = "postgresql" if url.startswith("postgresql") else "sqlite"
        limiter = "redis" if os.environ.get("FINANCE_REDIS_URL") else "database"
        print(
            f"finance serve --workers {args.workers} on {os.cpu_count()} CPUs, {database}, "
            f"rate limits and DPoP jtis in the {limiter}; "
            f"{args.seconds:.0f} s per cell; wrk on the same machine; "
            f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print(
            f"{'clients':>7} | {'data p50':>9} {'p99':>8} {'req/s':>7} {'err':>4} {'cpu':>8} | "
            f"{'bare p50':>9} {'p99':>8} {'req/s':>7} {'err':>4} {'cpu':>8} | {'ratio':>6}"
        )
        served = 0
        for level, tokens in zip(LEVELS, tokens_per_level, strict=True):
            cpu_before = group_cpu_seconds(server.pid)
            bare = run_wrk(base, ["/healthz"], level, args.seconds, tmp)
            bare_cpu = (group_cpu_seconds(server.pid) - cpu_before) / max(1, bare["requests"])
            mine, consent_ids = consent_ids[:tokens], consent_ids[tokens:]
            credentials = [data_token(base, client_id, client_key, c) for c in mine]
            token, key = credentials[0]
            probe = httpx.get(
                base + path,
                params=dict(part.split("=") for part in query.split("&")),
                headers={
                    "Authorization": f"DPoP {token}",
                    "DPoP": proof(key, "GET", base + path, token),
                },
            )
            if probe.status_code != 200 or len(probe.json()["items"]) != 12:
                raise SystemExit(f"the data call does not work: {probe.text}")
            # The bare endpoint's rate bounds the data call's: sign a quarter more than it
            # could use, within the consents' daily limits.
            wanted = int(bare["rps"] * args.seconds * 1.25) + 100
            count = min(wanted, tokens * (MAX_CALLS_PER_CONSENT - 10))
            lines = sign_proofs(credentials, base + path, count, query)
            spy = None
            if args.py_spy is not None and level == LEVELS[-1]:
                spy = subprocess.Popen(
                    [
                        "py-spy",
                        "record",
                        "--pid",
                        str(server.pid),
                        "--subprocesses",
                        "--format",
                        "raw",
                        "--duration",
                        f"{args.seconds:.0f}",
                        "--output",
                        str(args.py_spy),
                        "--nonblocking",
                        "--gil",
                        "--rate",
                        "200",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env={
                        **os.environ,
                        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                    },
                )
            cpu_before = group_cpu_seconds(server.pid)
            data = run_wrk(base, lines, level, args.seconds, tmp)
            if spy is not None:
                spy.wait()
            data_cpu = (group_cpu_seconds(server.pid) - cpu_before) / max(1, data["requests"])
            served += data["requests"] - data["errors"] + 1
            note = "  (proofs ran out)" if data["sent"] > data["lines"] else ""
            print(
                f"{level:>7} | {data['p50_us'] / 1000:>7.1f}ms {data['p99_us'] / 1000:>6.1f}ms "
                f"{data['rps']:>7.0f} {data['errors']:>4} {data_cpu * 1000:>6.2f}ms | "
                f"{bare['p50_us'] / 1000:>7.1f}ms {bare['p99_us'] / 1000:>6.1f}ms "
                f"{bare['rps']:>7.0f} {bare['errors']:>4} {bare_cpu * 1000:>6.2f}ms | "
                f"{data['rps'] / bare['rps']:>6.1%}{note}",
                flush=True,
            )
        # Verified once the server has stopped: calls in flight when wrk stopped are done.
        stop(server)
        server = None
        entries, allowed, verdict = verify_ledger(url)
        print(f"load at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.py_spy is not None:
            summarise_stacks(args.py_spy)
        print(
            f"ledger: {entries} entries, {allowed} allowed data calls "
            f"({served} answered 200), chain {verdict}"
        )
    finally:
        stop(server)
        if admin is not None:
            name = make_url(url).database
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
