"""The banks' data-call API: one enterprise's department data, under its consent.

Every endpoint goes through ``authz.guard.serve``: the consent decides what is read,
the dates are minimised to the consented range, ID numbers are masked by the data hub,
and every call, allowed or refused, lands in the audit ledger.

The endpoints are declared as FastAPI routes (their documentation, and their
implementation for any request that reaches the router), but the requests of a busy bank
do not go through FastAPI's router: ``DataCallRoutes``, an ASGI middleware inside the
request-id, logging and metrics middleware, recognises ``GET`` on these two paths and
answers them itself, with the same parameter validation, the same handler
(``records_response``/``profile_response``) and the same problem details. Matching a path
against every route and solving each parameter's dependency cost a data call as much CPU
as the whole guard did; the benchmark in ``bench/data_call.py`` measures the difference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from authz import guard
from authz.clock import Clock, NowDep, system_clock
from authz.guard import ConsentTerms
from authz.runtime import AuthzRuntime, get_runtime
from finance.core.errors import DomainError
from finance.core.logging import request_id_var
from finance.core.problems import domain_problem, validation_problem
from finance.govdata import service
from finance.govdata.schemas import RecordsPage

PREFIX = "/api/v1/data/enterprises"
router = APIRouter(prefix=PREFIX, tags=["data calls (banks)"])
RuntimeDep = Annotated[AuthzRuntime, Depends(get_runtime)]
T = TypeVar("T")


async def _serve(
    runtime: AuthzRuntime,
    now: dt.datetime,
    call: guard.DataCall,
    read: Callable[[Connection, ConsentTerms], tuple[T, int]],
    request: DataRequest,
) -> T:
    call.request_id = request_id_var.get()
    return await guard.serve(
        runtime,
        call,
        read,
        authorization=request.authorization,
        dpop=request.dpop,
        method="GET",
        htu=runtime.issuer + request.path,
        query=request.query,
        now=now,
    )


class DataRequest:
    """What a data call's handler needs of its HTTP request."""

    __slots__ = ("authorization", "dpop", "path", "query")

    def __init__(
        self, path: str, query: Mapping[str, str], authorization: str | None, dpop: str | None
    ) -> None:
        self.path, self.query, self.authorization, self.dpop = path, query, authorization, dpop


async def profile_response(
    runtime: AuthzRuntime, now: dt.datetime, request: DataRequest, uscc: str
) -> Response:
    call = guard.DataCall(uscc=uscc, categories=[], date_from=None, date_to=None)

    def read(connection: Connection, consent: ConsentTerms) -> tuple[dict[str, Any], int]:
        as_of = min(consent.data_to, now.date())
        call.categories = consent.category_list
        with Session(bind=connection) as session:
            summary = service.profile(
                session,
                uscc,
                as_of=as_of,
                categories=consent.category_list,
                data_from=consent.data_from,
            )
        return summary, len(summary["categories"])

    summary = await _serve(runtime, now, call, read, request)
    return JSONResponse(jsonable_encoder(summary))


async def records_response(
    runtime: AuthzRuntime,
    now: dt.datetime,
    request: DataRequest,
    uscc: str,
    category: str,
    *,
    date_from: dt.date | None,
    date_to: dt.date | None,
    cursor: str | None,
    limit: int,
) -> Response:
    service.category_or_404(category)
    call = guard.DataCall(uscc=uscc, categories=[category], date_from=date_from, date_to=date_to)

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

    body = await _serve(runtime, now, call, read, request)
    return Response(body, media_type="application/json")


def _request(request: Request) -> DataRequest:
    """Several DPoP headers are passed on as one listing several proofs, which the
    proof check refuses (RFC 9449 §4.3: exactly one)."""
    proofs = request.headers.getlist("dpop")
    return DataRequest(
        request.url.path,
        request.query_params,
        request.headers.get("authorization"),
        ", ".join(proofs) or None,
    )


@router.get("/{uscc}/profile", response_model=dict[str, Any])
async def consented_profile(
    request: Request,
    runtime: RuntimeDep,
    now: NowDep,
    uscc: str,
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header()] = None,
) -> Response:
    """Headline figures of the consented categories, as of the end of the consented
    range (or today, if earlier)."""
    return await profile_response(runtime, now, _request(request), uscc)


@router.get("/{uscc}/{category}", response_model=RecordsPage)
async def consented_records(
    request: Request,
    runtime: RuntimeDep,
    now: NowDep,
    uscc: str,
    category: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header()] = None,
) -> Response:
    """Records of one category, oldest first, within the consented dates."""
    return await records_response(
        runtime,
        now,
        _request(request),
        uscc,
        category,
        date_from=date_from,
        date_to=date_to,
        cursor=cursor,
        limit=limit,
    )


_DATE: TypeAdapter[dt.date | None] = TypeAdapter(dt.date | None)
_LIMIT: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1, le=service.MAX_PAGE)])


def _query_value(adapter: TypeAdapter[Any], query: Mapping[str, str], name: str) -> Any:
    """A query parameter validated as FastAPI validates it, errors located the same way."""
    try:
        return adapter.validate_python(query[name])
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", name)} for error in exc.errors()]
        ) from exc


def _records_arguments(query: Mapping[str, str]) -> dict[str, Any]:
    return {
        "date_from": _query_value(_DATE, query, "date_from") if "date_from" in query else None,
        "date_to": _query_value(_DATE, query, "date_to") if "date_to" in query else None,
        "cursor": query.get("cursor"),
        "limit": _query_value(_LIMIT, query, "limit") if "limit" in query else 100,
    }


@dataclass(frozen=True)
class _Template:
    """What the metrics and the access log read of a matched route: its template."""

    path: str


_PROFILE_ROUTE = _Template(PREFIX + "/{uscc}/profile")
_RECORDS_ROUTE = _Template(PREFIX + "/{uscc}/{category}")


class DataCallRoutes:
    """Answers ``GET {PREFIX}/{uscc}/{category}`` and ``GET {PREFIX}/{uscc}/profile``
    without FastAPI's router (see the module's docstring); everything else, other
    methods on these paths included, goes on to the application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        parts = path[len(PREFIX) + 1 :].split("/")
        if len(parts) != 2 or not parts[0] or not parts[1] or path[len(PREFIX)] != "/":
            await self.app(scope, receive, send)
            return
        uscc, category = parts
        authorization: str | None = None
        dpop: list[str] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"dpop":
                dpop.append(value.decode("latin-1"))
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        request = DataRequest(path, query, authorization, ", ".join(dpop) or None)
        state = scope["app"].state
        runtime: AuthzRuntime = state.authz
        clock: Clock = getattr(state, "clock", system_clock)
        response: Response
        try:
            if category == "profile":
                scope["route"] = _PROFILE_ROUTE
                response = await profile_response(runtime, clock(), request, uscc)
            else:
                scope["route"] = _RECORDS_ROUTE
                arguments = _records_arguments(query)
                response = await records_response(
                    runtime, clock(), request, uscc, category, **arguments
                )
        except DomainError as exc:
            response = domain_problem(exc)
        except RequestValidationError as exc:
            response = validation_problem(exc)
        await response(scope, receive, send)
