"""The banks' data-call API: one enterprise's department data, under its consent.

Every endpoint goes through ``authz.guard.serve``: the consent decides what is read,
the dates are minimised to the consented range, ID numbers are masked by the data hub,
and every call, allowed or refused, lands in the audit ledger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from authz import guard
from authz.clock import NowDep
from authz.guard import ConsentTerms
from authz.runtime import AuthzRuntime, get_runtime
from finance.core.deps import request_transaction
from finance.core.logging import request_id_var
from finance.govdata import service
from finance.govdata.schemas import RecordsPage

router = APIRouter(prefix="/api/v1/data/enterprises", tags=["data calls (banks)"])
RuntimeDep = Annotated[AuthzRuntime, Depends(get_runtime)]
T = TypeVar("T")


async def _serve(
    request: Request,
    runtime: AuthzRuntime,
    now: dt.datetime,
    call: guard.DataCall,
    read: Callable[[Session, ConsentTerms], tuple[T, int]],
    authorization: str | None,
    dpop: str | None,
) -> T:
    """The guard with what every data endpoint passes it from its request, run with the
    request's transaction in one worker-thread hop (a sync endpoint with a session
    dependency costs three: the dependency's entry and exit, and the endpoint)."""
    request_id = request_id_var.get()
    htu = runtime.url(request)

    def guarded() -> T:
        with request_transaction(request) as session:
            return guard.serve(
                session,
                runtime,
                call,
                lambda consent: read(session, consent),
                authorization=authorization,
                dpop=dpop,
                method=request.method,
                htu=htu,
                query=request.query_params,
                now=now,
                request_id=request_id,
            )

    return await run_in_threadpool(guarded)


@router.get("/{uscc}/profile")
async def consented_profile(
    request: Request,
    runtime: RuntimeDep,
    now: NowDep,
    uscc: str,
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Headline figures of the consented categories, as of the end of the consented
    range (or today, if earlier)."""
    call = guard.DataCall(uscc=uscc, categories=[], date_from=None, date_to=None)

    def read(session: Session, consent: ConsentTerms) -> tuple[dict[str, Any], int]:
        as_of = min(consent.data_to, now.date())
        call.categories = consent.category_list
        summary = service.profile(
            session,
            uscc,
            as_of=as_of,
            categories=consent.category_list,
            data_from=consent.data_from,
        )
        return summary, len(summary["categories"])

    return await _serve(request, runtime, now, call, read, authorization, dpop)


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
    service.category_or_404(category)
    call = guard.DataCall(uscc=uscc, categories=[category], date_from=date_from, date_to=date_to)

    def read(session: Session, consent: ConsentTerms) -> tuple[RecordsPage, int]:
        page = service.read_records(
            session,
            uscc,
            category,
            date_from=call.date_from,
            date_to=call.date_to,
            cursor=cursor,
            limit=limit,
            enterprise_known=True,  # the consent names it (a foreign key)
        )
        return page, len(page.items)

    page = await _serve(request, runtime, now, call, read, authorization, dpop)
    # Serialised once, by pydantic-core; FastAPI would validate the model again first.
    return Response(page.model_dump_json(), media_type="application/json")
