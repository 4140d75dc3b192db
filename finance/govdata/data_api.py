"""The banks' data-call API: one enterprise's department data, under its consent.

Every endpoint goes through ``authz.guard.serve``: the consent decides what is read,
the dates are minimised to the consented range, ID numbers are masked by the data hub,
and every call, allowed or refused, lands in the audit ledger. The routes are ordinary
FastAPI routes (router dependencies, dependency overrides and the OpenAPI document hold
for them); their route class (``DataCallRoute``) makes a call whose query FastAPI refuses
to parse (a bad date, a limit out of range) a refused data call too: it passes the guard
and is recorded before its 422 goes out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from authz import guard
from authz.clock import NowDep, get_now
from authz.guard import ConsentTerms, EarlyRefusal
from authz.runtime import AuthzRuntime
from finance.core.errors import NotFound
from finance.core.logging import request_id_var
from finance.govdata import service
from finance.govdata.categories import REGISTRY
from finance.govdata.schemas import RecordsPage

PREFIX = "/api/v1/data/enterprises"
PROFILE = "profile"
T = TypeVar("T")
# The two headers a data call carries, read by the guard from the request itself
# (``DataRequest``) and described here for the OpenAPI document: declared as parameters
# of the handlers, FastAPI would extract and validate them on every call for nothing
# (about a tenth of the call's routing and parameter work).
_HEADERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "authorization",
            "in": "header",
            "required": True,
            "description": "`DPoP <access token>`: a DPoP-bound access token of the consent",
            "schema": {"type": "string"},
        },
        {
            "name": "dpop",
            "in": "header",
            "required": True,
            "description": "a DPoP proof (RFC 9449) for this request, signed with the token's key",
            "schema": {"type": "string"},
        },
    ]
}


class DataRequest:
    """What a data call's guard needs of its HTTP request. Several DPoP headers are
    passed on as one listing several proofs, which the proof check refuses (RFC 9449
    §4.3: exactly one)."""

    __slots__ = ("authorization", "dpop", "path", "query")

    def __init__(self, request: Request) -> None:
        self.path = request.url.path
        self.query: Mapping[str, str] = request.query_params
        self.authorization = request.headers.get("authorization")
        self.dpop = ", ".join(request.headers.getlist("dpop")) or None


def _runtime(request: Request) -> AuthzRuntime:
    runtime: AuthzRuntime = request.app.state.authz
    return runtime


async def _serve(
    now: dt.datetime,
    call: guard.DataCall,
    read: Callable[[Connection, ConsentTerms], tuple[T, int]],
    request: Request,
    early: EarlyRefusal | None = None,
) -> T:
    call.request_id = request_id_var.get()
    data_request = DataRequest(request)
    runtime = _runtime(request)
    return await guard.serve(
        runtime,
        call,
        read,
        authorization=data_request.authorization,
        dpop=data_request.dpop,
        method="GET",
        htu=runtime.issuer + data_request.path,
        query=data_request.query,
        now=now,
        early=early,
    )


def _unread(_connection: Connection, _consent: ConsentTerms) -> tuple[None, int]:
    raise AssertionError("a call refused early reads nothing")


async def _refuse_malformed(request: Request, error: RequestValidationError) -> None:
    """Pass a call FastAPI could not parse through the guard, record it, and raise the
    guard's refusal or, if the guard would have let it through, ``error``."""
    uscc = str(request.path_params.get("uscc", ""))
    category = str(request.path_params.get("category", PROFILE))
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    call = guard.DataCall(
        uscc=uscc,
        categories=[category] if category in REGISTRY else [],
        date_from=None,
        date_to=None,
    )
    early = EarlyRefusal(error, f"invalid_request: {problems}")
    await _serve(await get_now(request), call, _unread, request, early)
    raise error  # the guard raises first; kept for the type checker


class DataCallRoute(APIRoute):
    """A data-call route: a request whose parameters do not parse is still a data call
    (recorded through the guard) before FastAPI answers it with its 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as error:
                await _refuse_malformed(request, error)
                raise

        return guarded


router = APIRouter(prefix=PREFIX, tags=["data calls (banks)"], route_class=DataCallRoute)


@router.get("/{uscc}/profile", response_model=dict[str, Any], openapi_extra=_HEADERS)
async def consented_profile(request: Request, now: NowDep, uscc: str) -> Response:
    """Headline figures of the consented categories, from data dated inside the
    consented range, as of its end (or today, if earlier)."""
    call = guard.DataCall(uscc=uscc, categories=[], date_from=None, date_to=None)

    def read(connection: Connection, consent: ConsentTerms) -> tuple[dict[str, Any], int]:
        call.categories = consent.category_list
        with Session(bind=connection) as session:
            summary = service.profile(
                session,
                uscc,
                as_of=min(consent.data_to, now.date()),
                categories=consent.category_list,
                data_from=consent.data_from,
            )
        return summary, len(summary["categories"])

    summary = await _serve(now, call, read, request)
    return JSONResponse(jsonable_encoder(summary))


@router.get("/{uscc}/{category}", response_model=RecordsPage, openapi_extra=_HEADERS)
async def consented_records(
    request: Request,
    now: NowDep,
    uscc: str,
    category: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
) -> Response:
    """Records of one category, oldest first, within the consented dates."""
    early = None
    try:
        service.category_or_404(category)
    except NotFound as unknown:
        early = EarlyRefusal(unknown, f"not_found: {unknown.detail}")
    call = guard.DataCall(
        uscc=uscc,
        categories=[] if early else [category],
        date_from=date_from,
        date_to=date_to,
    )

    def read(connection: Connection, consent: ConsentTerms) -> tuple[bytes, int]:
        page = service.records_page(
            connection,
            uscc,
            category,
            date_from=call.date_from,
            date_to=call.date_to,
            cursor=cursor,
            limit=limit,
        )
        return page.model_dump_json().encode(), len(page.items)

    body = await _serve(now, call, read, request, early)
    return Response(body, media_type="application/json")
