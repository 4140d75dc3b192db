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

import json
import os
import subprocess
import sys
from typing import Any

from sqlalchemy import func, select

from finance.cli.output import console
from finance.core.db import transaction
from finance.core.settings import get_settings
from finance.enterprises.models import Enterprise

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


def _accounts_and_walk() -> None:
    """The demo accounts (made once), bound to the bank of an online auto-deciding
    product version and to an enterprise with tax data, and the command that walks one
    application (``finance.lending.walk``)."""
    import datetime as dt
    import secrets

    from authz.accounts import service as accounts
    from authz.models import ClientStatus, OAuthClient, Role, User, UserKind
    from finance.govdata.models import data_table
    from products.models import ProductVersion

    now = dt.datetime.now(dt.UTC)
    tax = data_table("tax")
    with transaction() as session:
        version = session.scalar(
            select(ProductVersion)
            .where(
                ProductVersion.status == "online",
                ProductVersion.auto_decision.is_(True),
                ProductVersion.policy.is_not(None),
            )
            .order_by(ProductVersion.id)
            .limit(1)
        )
        if version is None:
            console.print("no online auto-deciding product: no 310 walk")
            return
        rep = session.scalar(select(User).where(User.username == "demo_rep"))
        uscc = rep.uscc if rep is not None else session.scalar(select(tax.c.uscc).limit(1))
        if rep is None and uscc is not None:
            made = {}
            for username, kind, role, binding in (
                ("demo_rep", UserKind.ENTERPRISE, Role.LEGAL_REP, {"uscc": uscc}),
                ("demo_officer", UserKind.BANK, Role.BANK_STAFF, {"bank_id": version.bank_id}),
                ("demo_bank_admin", UserKind.BANK, Role.BANK_ADMIN, {"bank_id": version.bank_id}),
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
                    OAuthClient.bank_id == version.bank_id,
                    OAuthClient.status == ClientStatus.ACTIVE.value,
                )
            )
            if connected is None:  # the bank's data-service client, approved by demo_ops
                session.add(
                    OAuthClient(
                        client_id="demo-" + secrets.token_hex(4),
                        bank_id=version.bank_id,
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
            f"--product-version {version.id} --amount-fen {version.default_amount_fen} "
            f"--term-months {version.min_term_months} --method {version.repayment_methods[0]}"
        )
    console.print(
        f"[bold]demo accounts[/] (password {DEMO_PASSWORD}): demo_rep (enterprise {uscc}, "
        "authenticated), demo_officer and demo_bank_admin (its bank), demo_ops (province "
        "ops), demo_city_ops (Pingdingshan branch, 410400). Log in at /login.\n"
        "[bold]walk one 310 application[/] (draft, submit with consent, the decision, the "
        "ledger, accept, disburse, a repayment), once the server is up:\n" + walk
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
