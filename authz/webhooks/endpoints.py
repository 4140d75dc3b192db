"""A bank's consent event log, polled with ``after`` (the last event id it has seen)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from authz.deps import BankClient
from authz.webhooks import service
from finance.core.deps import SessionDep

router = APIRouter(tags=["consent events"])


@router.get("/api/v1/events")
def events(
    session: SessionDep,
    client: BankClient,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "type": e.type,
            "consent_id": e.consent_id,
            "created_at": e.created_at,
            "data": e.payload,
            "delivered_at": e.delivered_at,
            "attempts": e.attempts,
        }
        for e in service.event_log(session, client.client_id, after, limit)
    ]
