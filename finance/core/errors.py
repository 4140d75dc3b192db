"""Domain errors, each carrying the HTTP status it maps to (rendered as RFC 9457)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected business error. Never surfaces as a 500."""

    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(DomainError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class Invalid(DomainError):
    status = 422
    title = "Invalid input"
    type_slug = "invalid"


class Unavailable(DomainError):
    status = 503
    title = "Service unavailable"
    type_slug = "unavailable"
