"""Walk one 310 application through a running platform's HTTP API, as the demo prints:

    python -m finance.lending.walk [--base http://127.0.0.1:8000] [--password ...]

The enterprise user ``demo_rep`` opens a draft against an online auto-deciding product
version, submits it with its consent and an Idempotency-Key; the worker decides it; the
enterprise reads the decision and its ledger (the bank's data read), accepts; the bank
officer ``demo_officer`` disburses and records a first repayment. Each step prints what
was sent and what came back. (The portal's cookies are ``Secure``; over plain HTTP to
127.0.0.1 they are carried by hand.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import secrets
import sys
import time
from typing import Any

import httpx


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def _cookies(response: httpx.Response) -> str:
    pairs = []
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        pairs.append(f"{name.strip()}={rest.split(';', 1)[0]}")
    return "; ".join(pairs)


class Portal:
    """A logged-in portal user: its session cookie and CSRF token."""

    def __init__(self, base: str, username: str, password: str) -> None:
        page = httpx.get(base + "/login")
        marker = 'name="csrf_token" value="'
        start = page.text.index(marker) + len(marker)
        response = httpx.post(
            base + "/login",
            data={
                "username": username,
                "password": password,
                "next": "/api/v1/me",
                "csrf_token": page.text[start : page.text.index('"', start)],
            },
            headers={"Cookie": _cookies(page)},
        )
        if response.status_code != 303:
            raise SystemExit(f"{username} could not log in: {response.status_code}")
        self.name = username
        self.http = httpx.Client(
            base_url=base,
            timeout=30,
            headers={
                "Cookie": _cookies(response),
                "X-CSRF-Token": response.headers["x-csrf-token"],
            },
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        _say(f"\n{self.name}: {method} {path} -> {response.status_code}")
        body = response.json()
        if response.status_code >= 400:
            _say(json.dumps(body, ensure_ascii=False, indent=2))
            raise SystemExit(1)
        return body


def _show(body: Any, *keys: str) -> None:
    _say(json.dumps({k: body[k] for k in keys}, ensure_ascii=False, indent=2, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--password", default="demo-password-310")
    parser.add_argument("--product-version", type=int, required=True)
    parser.add_argument("--amount-fen", type=int, required=True)
    parser.add_argument("--term-months", type=int, required=True)
    parser.add_argument("--method", required=True)
    args = parser.parse_args()
    rep = Portal(args.base, "demo_rep", args.password)
    officer = Portal(args.base, "demo_officer", args.password)

    draft = rep.call(
        "POST",
        "/api/v1/applications",
        json={
            "product_version_id": args.product_version,
            "amount_fen": args.amount_fen,
            "term_months": args.term_months,
            "repayment_method": args.method,
            "purpose": "流动资金周转",
        },
    )
    _show(draft, "id", "status", "consent")
    submitted = rep.call(
        "POST",
        f"/api/v1/applications/{draft['id']}/submit",
        json={"consent": True},
        headers={"Idempotency-Key": secrets.token_hex(8)},
    )
    _show(submitted, "status", "consent_id")
    for _ in range(300):
        seen = rep.http.get(f"/api/v1/applications/{draft['id']}").json()
        if seen["decision"] is not None:
            break
        time.sleep(0.1)
    else:
        raise SystemExit("no decision within 30 s: is the worker running?")
    _say(f"\ndecided in {seen['service_levels']['to_decision']:.3f} s")
    _show(seen, "status", "decision", "service_levels")
    ledger = rep.call("GET", "/api/v1/my/ledger", params={"limit": 5})
    _say(
        json.dumps(
            [e for e in ledger if e["action"] == "data_call"][:1], ensure_ascii=False, indent=2
        )
    )
    if seen["status"] != "approved":
        _say(f"\nthe application is {seen['status']}: the walk ends here")
        return
    rep.call("POST", f"/api/v1/applications/{draft['id']}/accept")
    offer = seen["decision"]
    loan = officer.call(
        "POST",
        f"/api/v1/bank/applications/{draft['id']}/disburse",
        json={
            "contract_no": f"DEMO-{draft['id']}",
            "amount_fen": offer["amount_fen"],
            "annual_rate_pct": offer["annual_rate_pct"],
            "term_months": offer["term_months"],
            "method": offer["method"],
            "fees_fen": offer["fees_fen"] or 0,
            "disbursed_on": dt.date.today().isoformat(),
        },
    )
    _show(loan, "id", "contract_no", "amount_fen", "rate_pct", "apr_pct", "status")
    first = loan["schedule"][0]
    repaid = officer.call(
        "POST",
        f"/api/v1/bank/loans/{loan['id']}/repayments",
        json={
            "amount_fen": first["principal_fen"] + first["interest_fen"],
            "paid_on": first["due_on"],
        },
    )
    _show(repaid, "penalty_fen", "interest_fen", "principal_fen")
    rep.call("GET", f"/api/v1/loans/{loan['id']}")


if __name__ == "__main__":
    main()
