"""``make demo``: one command from an empty machine to a running platform.

Runs the real commands in order: migrate the database, generate and load a SYNTHETIC
province (only when the database holds no enterprises yet), print what was loaded, then
serve the API on http://127.0.0.1:8000 until interrupted. Everything stays on the
embedded defaults under ``FINANCE_DATA_DIR`` (default ``var/``).
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
    console.rule(f"serving on http://127.0.0.1:{DEMO_PORT} (data in {settings.resolved_data_dir})")
    sys.stdout.flush()
    sys.stderr.flush()
    # The server replaces this process, so Ctrl-C or a SIGTERM to `make demo` stops it
    # (a child server would outlive a terminated parent).
    serve = ["-m", "finance.cli.main", "serve", "--host", "127.0.0.1", "--port", DEMO_PORT]
    os.execv(sys.executable, [sys.executable, *serve])


if __name__ == "__main__":
    main()
