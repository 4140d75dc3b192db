"""``make demo``: one command from an empty machine to a running platform.

Runs the real commands in order: migrate the database, generate and load a SYNTHETIC
province (only when the database holds no enterprises yet), print what was loaded, train
and promote a credit model (when none is live), create the demo accounts (an enterprise
user of an authenticated enterprise, a bank officer and a bank admin, a province ops
officer, a city-branch ops officer) and print them with the command that walks one 310
application, start a worker (with beat) beside the server, then serve the API on
http://127.0.0.1:8000 until interrupted; the worker dies with the server. Everything
stays on the embedded defaults under ``FINANCE_DATA_DIR`` (default ``var/``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finance.cli.output import console
from finance.core.db import transaction
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise
from products.models import ProductVersion

DEMO_ENTERPRISES = int(os.environ.get("FINANCE_DEMO_ENTERPRISES", "3000"))
DEMO_MONTHS = int(os.environ.get("FINANCE_DEMO_MONTHS", "30"))
DEMO_SEED = 42
DEMO_PORT = os.environ.get("FINANCE_DEMO_PORT", "8000")
DEMO_PASSWORD = "demo-password-310"


def _finance(*args: str, capture: bool = True) -> dict[str, Any]:
    """Run one ``finance`` command as its own process, as an operator would."""
    command = [sys.executable, "-m", "finance.cli.main", *args]
    completed = subprocess.run(
        command, check=False, text=True, capture_output=capture, env=os.environ.copy()
    )
    if completed.returncode not in (0, 1):  # 1: some synthetic rows refused, by design
        sys.stderr.write(completed.stderr or "")
        raise SystemExit(f"`finance {' '.join(args)}` failed with exit {completed.returncode}")
    if not capture:
        return {}
    parsed: dict[str, Any] = json.loads(completed.stdout)
    return parsed


def _registered() -> int:
    with transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def main() -> None:
    settings = get_settings()
    console.rule("[bold]SME financing data-service platform — demo")
    init = _finance("init", "--json")
    console.print(f"database {init['database']} at revision {init['revision']}")
    if _registered() == 0:
        console.print(
            f"generating a SYNTHETIC province: {DEMO_ENTERPRISES:,} enterprises x "
            f"{DEMO_MONTHS} months, seed {DEMO_SEED} (see docs/synthetic.md) ..."
        )
        synth = _finance(
            "synth",
            "--enterprises",
            str(DEMO_ENTERPRISES),
            "--months",
            str(DEMO_MONTHS),
            "--seed",
            str(DEMO_SEED),
            "--load",
            "--json",
        )
        seconds = sum(synth["seconds"].values())
        console.print(
            f"generated and loaded in {seconds:.0f} s; "
            f"oracle AUC of the synthetic loan book: {synth['oracle_auc']}"
        )
    else:
        console.print(f"{_registered():,} enterprises already loaded; keeping them")
    quality = _finance("quality", "--json")
    console.print("[bold]what the platform holds[/]")
    _finance("quality", capture=False)
    with transaction() as session:
        example = session.scalar(select(Enterprise.uscc).order_by(Enterprise.uscc).limit(1))
    records = sum(c["records"] for c in quality["categories"])
    console.print(
        f"{_registered():,} enterprises, {records:,} department records. Try:\n"
        f"  .venv/bin/finance enterprise show {example}\n"
        "  .venv/bin/finance batches\n"
        f"  curl http://127.0.0.1:{DEMO_PORT}/readyz\n"
        f"  curl http://127.0.0.1:{DEMO_PORT}/api/v1/categories\n"
        f"  http://127.0.0.1:{DEMO_PORT}/docs for the API reference"
    )
    _model()
    _accounts_and_walk()
    _worker()
    console.rule(f"serving on http://127.0.0.1:{DEMO_PORT} (data in {settings.resolved_data_dir})")
    sys.stdout.flush()
    sys.stderr.flush()
    # The server replaces this process, so Ctrl-C or a SIGTERM to `make demo` stops it
    # (a child server would outlive a terminated parent).
    serve = ["-m", "finance.cli.main", "serve", "--host", "127.0.0.1", "--port", DEMO_PORT]
    os.execv(sys.executable, [sys.executable, *serve])


def _model() -> None:
    from credit.registry import active_version

    with transaction() as session:
        live = active_version(session)
    if live is None:
        console.print("training and promoting a credit model on the province ...")
        trained = subprocess.run(
            [sys.executable, "-m", "finance.cli.main", "credit", "train", "--promote"],
            check=False,
            text=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        if trained.returncode != 0:  # a province too small to learn from
            last = (trained.stderr or trained.stdout).strip().splitlines()[-1:]
            console.print(f"no model trained ({' '.join(last)}): applications are referred")
        with transaction() as session:
            live = active_version(session)
    console.print(f"live credit model: {live}")


@dataclass(frozen=True)
class WalkTarget:
    """An enterprise and an online auto-deciding product version that the live model and
    the version's rules and policy approve, with the terms to ask for."""

    uscc: str
    version: ProductVersion
    amount_fen: int
    term_months: int
    method: str
    score: int


def walk_target(
    session: Session,
    data_dir: Path,
    *,
    uscc: str | None = None,
    bank_id: int | None = None,
    as_of: dt.date | None = None,
    scan: int = 400,
) -> WalkTarget | None:
    """The demo's walk should end in a loan, so it is pointed at a pair the decision
    will approve: matching (``products.matching``) finds each enterprise's approve-tier
    estimates among the online auto-deciding versions (of ``bank_id`` when given); the
    best margin over the approval line is checked with the score the decision task
    computes (for the amount asked) before it is chosen. Enterprises with tax data are
    scanned in USCC order (``scan`` at most), or only ``uscc``; as of ``as_of`` (today).
    None when nothing is approved (no live model, or a province too small)."""
    from credit.scoring import score_enterprise
    from finance.core.errors import DomainError
    from finance.govdata.models import data_table
    from products.matching import Ask, match_enterprise

    today = as_of or dt.datetime.now(dt.UTC).date()
    auto = set(
        session.scalars(
            select(ProductVersion.id).where(
                ProductVersion.status == "online",
                ProductVersion.auto_decision.is_(True),
                ProductVersion.policy.is_not(None),
                *([ProductVersion.bank_id == bank_id] if bank_id is not None else []),
            )
        )
    )
    if not auto:
        return None
    tax = data_table("tax")
    usccs = (
        [uscc]
        if uscc is not None
        else session.scalars(select(tax.c.uscc).distinct().order_by(tax.c.uscc).limit(scan))
    )
    for candidate in usccs:
        try:
            result = match_enterprise(session, candidate, today, Ask(), data_dir=data_dir)
        except DomainError:  # no live model
            return None
        approved = [
            m
            for m in result.eligible
            if m.candidate.version_id in auto
            and m.decision is not None
            and m.decision.outcome == "approve"
            and m.decision.amount_fen
        ]
        for match in sorted(approved, key=lambda m: m.margin, reverse=True):
            assert match.decision is not None
            assert match.decision.amount_fen is not None
            assert match.candidate.policy is not None
            asked = match.decision.amount_fen
            scored = score_enterprise(
                session, candidate, today, data_dir=data_dir, amount_fen=asked
            )
            if scored.score >= match.candidate.policy.approve_min_score:
                version = session.get(ProductVersion, match.candidate.version_id)
                assert version is not None
                return WalkTarget(
                    candidate,
                    version,
                    asked,
                    match.decision.term_months,
                    match.decision.method.value,
                    scored.score,
                )
    return None


def _accounts_and_walk() -> None:
    """The demo accounts (made once), bound to an enterprise and to the bank of an online
    auto-deciding product version that approves it (``walk_target``), and the command
    that walks one application (``finance.lending.walk``) to a loan."""
    import secrets

    from authz.accounts import service as accounts
    from authz.models import ClientStatus, OAuthClient, Role, User, UserKind

    now = dt.datetime.now(dt.UTC)
    data_dir = get_settings().resolved_data_dir
    with transaction() as session:
        rep = session.scalar(select(User).where(User.username == "demo_rep"))
        officer = session.scalar(select(User).where(User.username == "demo_officer"))
        if rep is not None and officer is not None:  # a second run: the same accounts
            target = walk_target(session, data_dir, uscc=rep.uscc, bank_id=officer.bank_id)
        else:
            target = walk_target(session, data_dir)
        if target is None:
            console.print(
                "no enterprise that an online auto-deciding product approves (no live model, "
                "or a province too small): no 310 walk"
            )
            return
        if rep is None:
            made = {}
            bank_id = target.version.bank_id
            for username, kind, role, binding in (
                ("demo_rep", UserKind.ENTERPRISE, Role.LEGAL_REP, {"uscc": target.uscc}),
                ("demo_officer", UserKind.BANK, Role.BANK_STAFF, {"bank_id": bank_id}),
                ("demo_bank_admin", UserKind.BANK, Role.BANK_ADMIN, {"bank_id": bank_id}),
                ("demo_ops", UserKind.OPS, Role.OPS_ADMIN, {}),
                ("demo_city_ops", UserKind.OPS, Role.OPS_AUDITOR, {"city_code": "410400"}),
            ):
                made[username] = accounts.create_user(
                    session,
                    username=username,
                    password=DEMO_PASSWORD,
                    kind=kind,
                    roles=[role],
                    now=now,
                    **binding,
                )
            made["demo_rep"].authenticated_at = now  # the legal representative's 认证
            connected = session.scalar(
                select(OAuthClient.id).where(
                    OAuthClient.bank_id == bank_id,
                    OAuthClient.status == ClientStatus.ACTIVE.value,
                )
            )
            if connected is None:  # the bank's data-service client, approved by demo_ops
                session.add(
                    OAuthClient(
                        client_id="demo-" + secrets.token_hex(4),
                        bank_id=bank_id,
                        name="demo bank data service",
                        redirect_uris=["https://bank.example/callback"],
                        jwks={"keys": []},
                        token_endpoint_auth_method="private_key_jwt",
                        status=ClientStatus.ACTIVE.value,
                        registered_by=made["demo_bank_admin"].id,
                        registered_at=now,
                        approved_by=made["demo_ops"].id,
                        approved_at=now,
                    )
                )
        walk = (
            f"  .venv/bin/python -m finance.lending.walk --base http://127.0.0.1:{DEMO_PORT} "
            f"--product-version {target.version.id} --amount-fen {target.amount_fen} "
            f"--term-months {target.term_months} --method {target.method}"
        )
        product = f"{target.version.name} (version {target.version.id})"
        console.print(
            f"[bold]demo accounts[/] (password {DEMO_PASSWORD}): demo_rep (enterprise "
            f"{target.uscc}, authenticated, score {target.score}), demo_officer and "
            "demo_bank_admin (the bank of "
            f"{product}), demo_ops (province ops), demo_city_ops (Pingdingshan branch, "
            "410400). Log in at /login.\n"
            "[bold]walk one 310 application[/] (draft, submit with consent, the automatic "
            "approval, the ledger, accept, disburse, a repayment), once the server is up:\n" + walk
        )


def _worker() -> None:
    """A worker with beat beside the server. The server replaces this process
    (``execv``), so the worker is the server's child, and the kernel sends it SIGTERM when
    its parent dies (``PR_SET_PDEATHSIG``): stopping the demo stops both."""
    import ctypes
    import signal

    def die_with_parent() -> None:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG

    subprocess.Popen(
        [sys.executable, "-m", "finance.cli.main", "worker", "--beat", "--loglevel", "WARNING"],
        env=os.environ.copy(),
        preexec_fn=die_with_parent if sys.platform == "linux" else None,
    )
    console.print("a worker (with beat) runs beside the server, on the embedded broker")


if __name__ == "__main__":
    main()
