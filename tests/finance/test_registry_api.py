"""Registry and data-hub read endpoints (internal flag on): masking, filters, pagination,
profile, problem details for bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from finance.app import create_app
from finance.cli.main import app as cli
from finance.core.settings import Settings
from finance.ingestion.service import ingest_file
from tests.builders import id_number, months, registration_row, tax_row, uscc, write_csv

A, B = uscc(11), uscc(12, city="410300")
AS_OF = dt.date(2025, 1, 31)


@pytest.fixture
def client(settings: Settings, engine: Engine, tmp_path: Path) -> TestClient:
    write_csv(
        tmp_path / "registration.csv",
        "registration",
        [
            registration_row(A, legal_rep_id_number=id_number(serial=456)),
            registration_row(B, industry_division="52", employees="3", revenue="200000"),
        ],
    )
    write_csv(tmp_path / "tax.csv", "tax", [tax_row(A, p) for p in months(2023, 1, 24)])
    for category in ("registration", "tax"):
        result = ingest_file(engine, category, tmp_path / f"{category}.csv", as_of=AS_OF)
        assert result.exit_code == 0
    return TestClient(create_app(settings.model_copy(update={"internal_api_enabled": True})))


def test_enterprise_is_returned_with_the_id_number_masked(client: TestClient) -> None:
    body = client.get(f"/api/v1/enterprises/{A}").json()
    full = id_number(serial=456)
    assert body["legal_rep_id_number_masked"] == full[:3] + "*" * 11 + full[-4:]
    assert full not in client.get(f"/api/v1/enterprises/{A}").text
    assert body["city_name"] == "郑州市"
    assert body["size_class"] == "small"


def test_list_filters_and_cursor_pagination(client: TestClient) -> None:
    first = client.get("/api/v1/enterprises", params={"limit": 1}).json()
    assert first["total"] == 2
    assert len(first["items"]) == 1
    assert first["next_cursor"]
    second = client.get(
        "/api/v1/enterprises", params={"limit": 1, "cursor": first["next_cursor"]}
    ).json()
    assert {first["items"][0]["uscc"], second["items"][0]["uscc"]} == {A, B}
    assert second["next_cursor"] is None
    retail = client.get("/api/v1/enterprises", params={"industry_section": "F"}).json()
    assert [e["uscc"] for e in retail["items"]] == [B]
    assert retail["items"][0]["size_class"] == "micro"
    luoyang = client.get("/api/v1/enterprises", params={"city_code": "410300"}).json()
    assert luoyang["total"] == 1


def test_records_by_date_range_with_cursor(client: TestClient) -> None:
    url = f"/api/v1/enterprises/{A}/data/tax"
    page = client.get(url, params={"date_from": "2024-01-01", "limit": 5}).json()
    assert [r["period"] for r in page["items"]] == [f"2024-{m:02d}-01" for m in range(1, 6)]
    assert page["items"][0]["vat_paid_fen"] == 120050
    seen = [r["period"] for r in page["items"]]
    while page["next_cursor"]:
        page = client.get(
            url, params={"date_from": "2024-01-01", "limit": 5, "cursor": page["next_cursor"]}
        ).json()
        seen += [r["period"] for r in page["items"]]
    assert len(seen) == 12
    assert seen[-1] == "2024-12-01"
    registration = client.get(f"/api/v1/enterprises/{A}/data/registration").json()
    assert "*" in registration["items"][0]["legal_rep_id_number"]


def test_profile_headlines(client: TestClient) -> None:
    body = client.get(f"/api/v1/enterprises/{A}/profile", params={"as_of": "2024-12-31"}).json()
    tax = body["categories"]["tax"]
    assert tax["vat_paid_fen_12m"] == 12 * 120050
    assert tax["vat_paid_fen_prior_12m"] == 12 * 120050
    assert tax["latest_credit_rating"] == "B"
    limited = client.get(
        f"/api/v1/enterprises/{A}/profile", params={"categories": ["tax", "judicial"]}
    ).json()
    assert set(limited["categories"]) == {"tax", "judicial"}
    assert limited["categories"]["judicial"]["dishonest_debtor"] is False


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/api/v1/enterprises/91410100MA0000011X", 422, "check character"),
        (f"/api/v1/enterprises/{uscc(999)}", 404, "no enterprise"),
        (f"/api/v1/enterprises/{A}/data/astrology", 404, "unknown data category"),
        (f"/api/v1/enterprises/{A}/data/tax?date_from=2024-05-01&date_to=2024-01-01", 422, "after"),
        (f"/api/v1/enterprises/{A}/data/tax?cursor=garbage", 422, "cursor"),
        (f"/api/v1/enterprises/{A}/data/tax?date_from=yesterday", 422, "date_from"),
        ("/api/v1/enterprises?limit=0", 422, "limit"),
    ],
)
def test_bad_requests_are_problem_details(
    client: TestClient, path: str, status: int, detail: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


def test_cli_enterprise_show(client: TestClient) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["enterprise", "show", A, "--json"])
    assert shown.exit_code == 0
    assert f'"uscc": "{A}"' in shown.stdout
    assert id_number(serial=456) not in shown.stdout
    missing = runner.invoke(cli, ["enterprise", "show", uscc(999)])
    assert missing.exit_code == 1
    assert "no enterprise" in missing.output


def test_profile_counts_penalties_and_awards_of_the_last_24_months(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    """Each headline counts the records dated in the 24 months to the as-of date and
    sums their amounts; older and later records do not count."""
    penalty = {"authority": "市场监管局", "reason": "逾期年报", "penalty_type": "fine"}
    write_csv(
        tmp_path / "penalties.csv",
        "penalties",
        [
            {**penalty, "uscc": A, "decision_number": day, "decided_on": day, "amount": amount}
            for day, amount in (
                ("2022-12-31", "900"),
                ("2023-01-01", "100"),
                ("2024-12-31", "20.5"),
                ("2025-01-01", "7"),
            )
        ],
    )
    award = {"purchaser": "郑州市教育局", "project": "课桌椅采购"}
    write_csv(
        tmp_path / "procurement.csv",
        "procurement",
        [
            {**award, "uscc": A, "award_id": f"W{i}", "awarded_on": day, "amount": amount}
            for i, (day, amount) in enumerate((("2022-06-30", "5000"), ("2024-03-15", "12000")))
        ],
    )
    for category in ("penalties", "procurement"):
        result = ingest_file(engine, category, tmp_path / f"{category}.csv", as_of=AS_OF)
        assert result.exit_code == 0
    body = client.get(
        f"/api/v1/enterprises/{A}/profile",
        params={"as_of": "2024-12-31", "categories": ["penalties", "procurement"]},
    ).json()["categories"]
    assert body["penalties"] == {"penalties_24m": 2, "fines_24m_fen": 12050}
    assert body["procurement"] == {"awards_24m": 1, "awarded_24m_fen": 1200000}
