"""Benchmark: an authorised, DPoP-bound data call (tax, 12 months) against a bare JSON
endpoint (/healthz) in the same ``finance serve`` process and the same run, at 1, 8 and
32 concurrent clients. Prints p50/p99 latency, throughput and the throughput ratio.

    python bench/data_call.py [--seconds 10] [--workers 1]

The database is ``FINANCE_DATABASE_URL`` when set (e.g. PostgreSQL), else a fresh SQLite
file. Every data call goes through the whole guard: JWT verification, per-client rate
limit, DPoP proof (signed by the client for each request), token and client status,
consent coverage, daily limit, the read, and a hash-chained ledger append.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
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
from sqlalchemy import insert, select

from authz.consents import service as consents
from authz.models import ClientStatus, OAuthClient, Role, UserKind
from authz.oauth.dpop import access_token_hash
from finance.core.db import make_engine, transaction
from finance.core.settings import Settings
from finance.enterprises.models import Enterprise
from finance.enterprises.uscc import with_check_character
from finance.govdata.models import data_table
from finance.ingestion.models import IngestBatch
from finance.institutions.models import Bank

LEVELS = (1, 8, 32)
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
                max_calls_per_day=10_000,
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


async def run_level(
    base: str, path: str, credentials: list[tuple[str, ECKey]] | None, clients: int, seconds: float
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker(index: int) -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                headers = {}
                if credentials is not None:
                    token, key = credentials[index]
                    headers = {
                        "Authorization": f"DPoP {token}",
                        "DPoP": proof(key, "GET", base + path, token),
                    }
                started = time.perf_counter()
                response = await http.get(path, headers=headers, params=params)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        params = {"date_from": "2025-11-01", "date_to": "2026-10-31"} if credentials else None
        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    return latencies, errors, int(len(latencies) / elapsed)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-data-call-"))
    url = os.environ.get("FINANCE_DATABASE_URL") or f"sqlite:///{tmp / 'finance.db'}"
    if url.startswith("postgres"):
        # A database of its own, dropped at the end.
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"bench_{secrets.token_hex(4)}"
        admin = create_engine(
            make_url(Settings(database_url=url).sqlalchemy_url).set(database="postgres"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = (
            make_url(Settings(database_url=url).sqlalchemy_url)
            .set(database=name)
            .render_as_string(hide_password=False)
        )
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
    subprocess.run([*finance, "init"], env=env, check=True, stdout=subprocess.DEVNULL)
    uscc, client_id, client_key, consent_ids = seed(url, max(LEVELS))
    server = subprocess.Popen(
        [*finance, "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        path = f"/api/v1/data/enterprises/{uscc}/tax"
        database = "postgresql" if url.startswith("postgresql") else "sqlite"
        print(
            f"finance serve --workers {args.workers} on {os.cpu_count()} CPUs, {database}; "
            f"{args.seconds:.0f} s per cell; load generator in the same machine"
        )
        print(
            f"{'clients':>7} | {'data p50':>9} {'p99':>8} {'req/s':>7} {'err':>4} | "
            f"{'bare p50':>9} {'p99':>8} {'req/s':>7} | {'ratio':>6}"
        )
        for level in LEVELS:
            credentials = [
                data_token(base, client_id, client_key, consent_ids[i]) for i in range(level)
            ]
            probe = httpx.get(
                base + path,
                params={"date_from": "2025-11-01", "date_to": "2026-10-31"},
                headers={
                    "Authorization": f"DPoP {credentials[0][0]}",
                    "DPoP": proof(credentials[0][1], "GET", base + path, credentials[0][0]),
                },
            )
            if probe.status_code != 200 or len(probe.json()["items"]) != 12:
                raise SystemExit(f"the data call does not work: {probe.text}")
            data = asyncio.run(run_level(base, path, credentials, level, args.seconds))
            bare = asyncio.run(run_level(base, "/healthz", None, level, args.seconds))
            print(
                f"{level:>7} | {pct(data[0], 0.5):>7.1f}ms {pct(data[0], 0.99):>6.1f}ms "
                f"{data[2]:>7} {data[1]:>4} | {pct(bare[0], 0.5):>7.1f}ms "
                f"{pct(bare[0], 0.99):>6.1f}ms {bare[2]:>7} | {data[2] / bare[2]:>6.1%}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
