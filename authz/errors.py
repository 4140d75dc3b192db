"""Access refusals: each carries the OAuth error code a client sees (RFC 6750 §3.1,
RFC 9449 §7.1) beside the RFC 9457 problem fields."""

from __future__ import annotations

from typing import Any

from finance.core.errors import DomainError


class AccessRefused(DomainError):
    """A refused call: ``error`` is the machine-readable code, ``detail`` says why."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail, error=error, **extensions)
        self.status = status
        self.error = error
        self.title = {
            400: "Bad request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            429: "Too many requests",
        }.get(status, "Refused")
        self.type_slug = error.replace("_", "-")
        self.headers = headers


def invalid_token(
    detail: str, *, scheme: str = "DPoP", error: str = "invalid_token"
) -> AccessRefused:
    challenge = f'{scheme} error="{error}", algs="ES256 PS256"'
    return AccessRefused(401, error, detail, headers={"WWW-Authenticate": challenge})
