"""The demand-market API fuzzed from its own OpenAPI document (schemathesis): whatever
the input, and whoever calls (anonymous, an enterprise, a pushed bank's staff, ops), no
answer is a 5xx and every refusal is an RFC 9457 problem."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from authz.accounts.web_session import COOKIE
from tests.demands.support import Market


def test_no_server_error_for_any_input(market: Market) -> None:
    # Something to find: an open demand, and one claimed and contacted by B1.
    market.posted()
    claimed = market.posted()["id"]
    market.bank_call("B1", "POST", f"/api/v1/bank/demands/{claimed}/claim")
    market.bank_call("B1", "POST", f"/api/v1/bank/demands/{claimed}/contact", json={})
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for user in ("legal_rep", "staff_b1", "ops_admin"):
        browser, csrf = market.portal(user)
        headers[user] = {"Cookie": f"{COOKIE}={browser.cookies.get(COOKIE)}", "X-CSRF-Token": csrf}
    api = schemathesis.openapi.from_asgi("/openapi.json", market.http.app)
    operations = [
        result.ok()
        for result in api.include(path_regex=r"^/api/v1/(my|bank|ops)/demands").get_all_operations()
    ]
    assert len(operations) == 11
    for operation in operations:

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def no_server_error(case: schemathesis.Case) -> None:
            for caller, caller_headers in headers.items():
                response = case.call(headers=caller_headers)
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
