"""The public catalogue search: every filter (alone and combined) gives what a brute-force
reading of the products' terms gives; each sort order pages through everything once, in
order; bad cursors and bad filters are 422 problems."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.products.support import Catalogue

NAMES = ("税易贷", "科技贷", "Easy_Loan 100%", "抵押经营贷", "社保贷", "政采贷")
CITIES = ("410100", "410300", "410400")
SECTIONS = ("C", "F", "I")
SIZES = ("micro", "small", "medium")
METHODS = ("equal_instalment", "equal_principal", "interest_only", "bullet")
GUARANTEES = ("pure_credit", "guaranteed", "mortgage", "pledge")


def _subset(rng: random.Random, values: tuple[str, ...], at_least: int = 0) -> list[str]:
    chosen = [v for v in values if rng.random() < 0.4]
    return chosen if len(chosen) >= at_least else list(values[:at_least])


def varied_terms(rng: random.Random, number: int) -> dict[str, Any]:
    low = rng.choice((1, 5, 10, 50)) * 1_000_000
    high = low * rng.choice((2, 10, 30))
    term_low = rng.choice((3, 6, 12))
    rate_low = Decimal(rng.choice(("3.45", "3.85", "4.2", "5.0")))
    return {
        "name": f"{rng.choice(NAMES)}{number}",
        "name_en": rng.choice((None, "Tax e-Loan", "Tech Loan")),
        "guarantee": rng.choice(GUARANTEES),
        "min_amount_fen": low,
        "max_amount_fen": high,
        "default_amount_fen": low,
        "min_term_months": term_low,
        "max_term_months": term_low * rng.choice((1, 2, 4)),
        "rate_min_pct": str(rate_low),
        "rate_max_pct": str(rate_low + Decimal(rng.choice(("0.5", "2.0", "3.1")))),
        "repayment_methods": _subset(rng, METHODS, at_least=1),
        "cities": _subset(rng, CITIES),
        "industries": _subset(rng, SECTIONS),
        "sizes": _subset(rng, SIZES),
        "eligibility": [],
        "policy": None,
        "auto_decision": False,
    }


@pytest.fixture
def shelf(catalogue: Catalogue) -> dict[int, dict[str, Any]]:
    """Fourteen online products of two banks (and a draft and a rejected one that the
    catalogue never shows); product id -> terms and bank."""
    rng = random.Random(11)
    products: dict[int, dict[str, Any]] = {}
    for number in range(14):
        user = "zzb_staff" if number % 3 else "lyb_staff"
        terms = varied_terms(rng, number)
        product_id = catalogue.online(user, f"P{number}", **terms)
        products[product_id] = {**terms, "bank_id": catalogue.banks[user[:3].upper()]}
    catalogue.create("zzb_staff", "DRAFT", **varied_terms(rng, 99))
    rejected = catalogue.create("zzb_staff", "REJ", **varied_terms(rng, 98))["product_id"]
    catalogue.fire("zzb_staff", rejected, 1, "submit")
    catalogue.fire("ops_admin", rejected, 1, "reject", "no")
    return products


def _offered(values: list[str], wanted: str) -> bool:
    return not values or wanted in values


def expected(shelf: dict[int, dict[str, Any]], f: dict[str, Any]) -> set[int]:
    """The brute-force reading of the filters."""
    found = set()
    for product_id, t in shelf.items():
        text = f.get("q")
        checks = [
            "guarantee" not in f or t["guarantee"] in f["guarantee"],
            "amount_fen" not in f or t["min_amount_fen"] <= f["amount_fen"] <= t["max_amount_fen"],
            "term_months" not in f
            or t["min_term_months"] <= f["term_months"] <= t["max_term_months"],
            "max_rate_pct" not in f or Decimal(t["rate_min_pct"]) <= Decimal(f["max_rate_pct"]),
            "bank_id" not in f or t["bank_id"] == f["bank_id"],
            "city" not in f or _offered(t["cities"], f["city"]),
            "industry" not in f or _offered(t["industries"], f["industry"]),
            "size" not in f or _offered(t["sizes"], f["size"]),
            "method" not in f or f["method"] in t["repayment_methods"],
            text is None
            or text.lower() in t["name"].lower()
            or text.lower() in (t["name_en"] or "").lower(),
        ]
        if all(checks):
            found.add(product_id)
    return found


def search_all(
    catalogue: Catalogue, params: dict[str, Any], limit: int = 100
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = catalogue.call(None, "GET", "/api/v1/products", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "guarantee": st.lists(st.sampled_from(GUARANTEES), min_size=1, max_size=2, unique=True),
        "amount_fen": st.sampled_from((1_000_000, 5_000_000, 20_000_000, 100_000_000, 10**9)),
        "term_months": st.sampled_from((3, 6, 12, 24, 48)),
        "max_rate_pct": st.sampled_from(("3.5", "3.85", "4.2", "6")),
        "city": st.sampled_from((*CITIES, "411300")),
        "industry": st.sampled_from((*SECTIONS, "A")),
        "size": st.sampled_from((*SIZES, "large")),
        "method": st.sampled_from(METHODS),
        "q": st.sampled_from(("贷", "税易", "tax", "TECH", "_", "%", "100%", "无此名")),
        "bank": st.sampled_from(("ZZB", "LYB")),
    },
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(filters=FILTERS)
def test_filters_equal_brute_force(
    catalogue: Catalogue, shelf: dict[int, dict[str, Any]], filters: dict[str, Any]
) -> None:
    params = dict(filters)
    if "bank" in params:
        params["bank_id"] = catalogue.banks[params.pop("bank")]
    found = search_all(catalogue, params, limit=5)
    ids = [item["product_id"] for item in found]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected(shelf, params)


def test_the_shelf_is_varied_enough_to_mean_something(shelf: dict[int, dict[str, Any]]) -> None:
    assert 0 < len(expected(shelf, {"city": "410400"})) < len(shelf)
    assert 0 < len(expected(shelf, {"method": "bullet"})) < len(shelf)
    assert 0 < len(expected(shelf, {"amount_fen": 100_000_000})) < len(shelf)
    assert 0 < len(expected(shelf, {"q": "_"})) < len(shelf)


SORT_KEYS = {
    "rate": (lambda t: Decimal(t["rate_min_pct"]), False),
    "-rate": (lambda t: Decimal(t["rate_min_pct"]), True),
    "amount": (lambda t: t["max_amount_fen"], False),
    "-amount": (lambda t: t["max_amount_fen"], True),
    "term": (lambda t: t["max_term_months"], False),
    "-term": (lambda t: t["max_term_months"], True),
    "name": (lambda t: t["name"], False),
}


@pytest.mark.parametrize("sort", [*SORT_KEYS, "newest"])
def test_each_sort_pages_through_everything_in_order(
    catalogue: Catalogue, shelf: dict[int, dict[str, Any]], sort: str
) -> None:
    items = search_all(catalogue, {"sort": sort}, limit=4)
    ids = [item["product_id"] for item in items]
    if sort == "newest":  # all approved at the same instant: newest id first
        assert ids == sorted(shelf, reverse=True)
        return
    key, descending = SORT_KEYS[sort]
    order = sorted(shelf, key=lambda pid: (key(shelf[pid]), pid), reverse=descending)
    assert ids == order


def test_items_carry_terms_and_bank(catalogue: Catalogue, shelf: dict[int, dict[str, Any]]) -> None:
    item = search_all(catalogue, {"bank_id": catalogue.banks["LYB"]})[0]
    assert item["bank_name"] == "洛阳银行"
    assert item["version"] == 1
    terms = shelf[item["product_id"]]
    assert item["terms"]["rate_min_pct"] == f"{Decimal(terms['rate_min_pct']):.3f}"
    assert item["terms"]["cities"] == terms["cities"]


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!", "e30", "eyJzIjoicmF0ZSJ9", "eyJzIjoicmF0ZSIsInYiOiJOYU4iLCJpIjoxfQ", "a" * 600],
)
def test_bad_cursor_is_a_problem(catalogue: Catalogue, cursor: str) -> None:
    response = catalogue.call(None, "GET", "/api/v1/products", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_cursor_of_another_sort_is_refused(catalogue: Catalogue, shelf: dict[int, Any]) -> None:
    page = catalogue.call(None, "GET", "/api/v1/products", params={"limit": 2}).json()
    other = catalogue.call(
        None, "GET", "/api/v1/products", params={"sort": "-amount", "cursor": page["next_cursor"]}
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["pointer"] == "/cursor"


@pytest.mark.parametrize(
    "params",
    [
        {"guarantee": "unsecured"},
        {"amount_fen": 0},
        {"amount_fen": 10**19},
        {"term_months": 361},
        {"max_rate_pct": "NaN"},
        {"max_rate_pct": "Infinity"},
        {"max_rate_pct": "-1"},
        {"city": "41010"},
        {"industry": "Z"},
        {"size": "huge"},
        {"method": "balloon"},
        {"sort": "popularity"},
        {"limit": 0},
        {"limit": 101},
        {"q": ""},
        {"bank_id": 2**63},
    ],
)
def test_bad_filter_is_a_problem(catalogue: Catalogue, params: dict[str, Any]) -> None:
    response = catalogue.call(None, "GET", "/api/v1/products", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
