"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from finance.core.errors import DomainError
from finance.core.logging import request_id_var

PROBLEM_TYPE_BASE = "https://errors.sme-finance.example/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("finance.errors")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    type_slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (type_slug or str(status)),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(jsonable_encoder(extensions))
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def domain_problem(exc: DomainError) -> JSONResponse:
    return problem(
        exc.status,
        exc.detail,
        type_slug=exc.type_slug,
        title=exc.title,
        headers=exc.headers,
        **exc.extensions,
    )


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(422, summary or "invalid request", type_slug="invalid", errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value as data (SQLSTATE class 22: a string it cannot
        # hold, a number out of range): the request's fault, and nothing was saved.
        log.info("value refused by the database", exc_info=exc)
        return problem(422, f"a value could not be stored: {exc.orig}", type_slug="invalid")

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "an unexpected error occurred; quote the request id to support")
