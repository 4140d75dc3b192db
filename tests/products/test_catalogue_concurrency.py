"""Review steps and edits racing each other, under a real uvicorn server with requests
released together from several threads: one approval wins and the rest get a 409 (never a
5xx), one edit makes the next version and the others edit that draft or get a 409.
Runs on SQLite by default and on PostgreSQL with ``FINANCE_DATABASE_URL``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from products.models import ProductTransition, ProductVersion
from tests.demands.support import served, session_headers
from tests.products.support import Catalogue

THREADS = 6


def race(base: str, calls: list[tuple[str, str, dict[str, str], object]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def one(call: tuple[str, str, dict[str, str], object]) -> httpx.Response:
        method, path, headers, body = call
        barrier.wait(timeout=30)
        return httpx.request(method, f"{base}{path}", headers=headers, json=body, timeout=60)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def headers_of(catalogue: Catalogue) -> Callable[[str], dict[str, str]]:
    def headers(user: str) -> dict[str, str]:
        browser, csrf = catalogue.portal(user)
        return session_headers(browser, csrf)

    return headers


def test_one_approval_wins(catalogue: Catalogue) -> None:
    headers = headers_of(catalogue)
    reviewers = ["ops_admin", "zz_officer"]
    products = []
    for number in range(3):
        product_id = catalogue.create("zzb_staff", f"RACE-{number}")["product_id"]
        catalogue.fire("zzb_staff", product_id, 1, "submit")
        products.append(product_id)
    with served(catalogue.http.app) as base:
        for product_id in products:
            path = f"/api/v1/ops/products/{product_id}/versions/1/transitions"
            answers = race(
                base,
                [
                    ("POST", path, headers(reviewers[i % 2]), {"event": "approve"})
                    for i in range(THREADS)
                ],
            )
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200] + [409] * (THREADS - 1), [a.text for a in answers]
            for answer in answers:
                if answer.status_code == 409:
                    assert answer.json()["allowed_events"] == ["take_offline"]
            with catalogue.session() as session:
                approvals = session.scalar(
                    select(func.count())
                    .select_from(ProductTransition)
                    .join(ProductVersion, ProductVersion.id == ProductTransition.version_id)
                    .where(
                        ProductVersion.product_id == product_id,
                        ProductTransition.event == "approve",
                    )
                )
                assert approvals == 1


def test_concurrent_edits_make_one_new_version(catalogue: Catalogue) -> None:
    headers = headers_of(catalogue)
    product_id = catalogue.online("zzb_staff", "EDIT")
    editors = ["zzb_staff", "zzb_admin"]
    with served(catalogue.http.app) as base:
        answers = race(
            base,
            [
                (
                    "PATCH",
                    f"/api/v1/bank/products/{product_id}",
                    headers(editors[i % 2]),
                    {"name": f"改名{i}"},
                )
                for i in range(THREADS)
            ],
        )
    assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
    assert any(a.status_code == 200 for a in answers)
    assert {a.json()["number"] for a in answers if a.status_code == 200} == {2}
    with catalogue.session() as session:
        numbers = session.scalars(
            select(ProductVersion.number)
            .where(ProductVersion.product_id == product_id)
            .order_by(ProductVersion.number)
        ).all()
        assert numbers == [1, 2]
