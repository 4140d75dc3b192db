"""The products API fuzzed from its own OpenAPI document (schemathesis): whatever the
input, and whoever calls (anonymous, a bank's staff, ops), no answer is a 5xx and every
refusal is an RFC 9457 problem."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from authz.accounts.web_session import COOKIE
from tests.products.support import Catalogue


@dataclass
class Fuzzed:
    catalogue: Catalogue
    headers: dict[str, dict[str, str]]


@pytest.fixture
def fuzzed(catalogue: Catalogue) -> Fuzzed:
    # Something to find: an online product, a submitted one and a draft.
    catalogue.online("zzb_staff", "ON")
    submitted = catalogue.create("zzb_staff", "SUB")["product_id"]
    catalogue.fire("zzb_staff", submitted, 1, "submit")
    catalogue.create("lyb_staff", "DRAFT")
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for user in ("zzb_staff", "ops_admin", "pds_officer"):
        browser, csrf = catalogue.portal(user)
        cookie = browser.cookies.get(COOKIE)
        headers[user] = {"Cookie": f"{COOKIE}={cookie}", "X-CSRF-Token": csrf}
    return Fuzzed(catalogue, headers)


def test_no_server_error_for_any_input(fuzzed: Fuzzed) -> None:
    api = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.catalogue.http.app)
    operations = [
        result.ok()
        for result in api.include(path_regex=r"^/api/v1/(bank/|ops/)?products").get_all_operations()
    ]
    assert len(operations) == 12
    for operation in operations:

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case) -> None:
            for caller, headers in fuzzed.headers.items():
                response = case.call(headers=headers)
                where = (caller, case.method, case.formatted_path, response.status_code)
                assert response.status_code < 500, (*where, response.text)
                if response.status_code >= 400:
                    content_type = response.headers["content-type"][0]
                    assert content_type.startswith("application/problem+json"), where
                    problem = response.json()
                    assert problem["status"] == response.status_code, where
                    assert problem["title"], where
                    assert problem["detail"], where

        no_server_error()
