"""The review workflow of a product version, as a table of legal transitions:
``draft -> submitted -> online | rejected -> offline`` (a submitted version can also be
withdrawn to draft by its bank). Who may fire each event is part of the table.

``apply`` is the one place a version changes status: it checks the table, stamps the
transition (actor, time, reason) and returns it; an illegal event is a 409 naming the
events allowed from the version's status.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from finance.core.errors import Conflict, Invalid, NotFound
from products.models import ProductTransition, ProductVersion, VersionStatus


class Side(enum.StrEnum):
    BANK = "bank"  # the bank's staff or its OAuth client
    OPS = "ops"  # platform operations (province or city branch)
    PLATFORM = "platform"  # the platform itself (superseding, migrations, synthesis)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: ``ref`` is stored on the transition ("user:12", "client:abc",
    "platform"), ``name`` shown with it. ``bank_id`` for bank actors, ``city_code`` for a
    city-branch ops officer."""

    side: Side
    ref: str
    name: str
    bank_id: int | None = None
    city_code: str | None = None


PLATFORM = Actor(Side.PLATFORM, "platform", "platform")


@dataclass(frozen=True, slots=True)
class Rule:
    source: VersionStatus
    target: VersionStatus
    sides: frozenset[Side]
    reason_required: bool = False


S = VersionStatus
TRANSITIONS: dict[str, tuple[Rule, ...]] = {
    "submit": (Rule(S.DRAFT, S.SUBMITTED, frozenset({Side.BANK})),),
    "withdraw": (Rule(S.SUBMITTED, S.DRAFT, frozenset({Side.BANK})),),
    "approve": (Rule(S.SUBMITTED, S.ONLINE, frozenset({Side.OPS, Side.PLATFORM})),),
    "reject": (Rule(S.SUBMITTED, S.REJECTED, frozenset({Side.OPS}), reason_required=True),),
    "take_offline": (
        Rule(S.ONLINE, S.OFFLINE, frozenset({Side.BANK, Side.OPS}), reason_required=True),
    ),
    # When a newer version goes online the one it replaces goes offline.
    "supersede": (Rule(S.ONLINE, S.OFFLINE, frozenset({Side.PLATFORM})),),
}
EVENTS = tuple(TRANSITIONS)


def allowed_events(status: str, side: Side) -> list[str]:
    """The events ``side`` may fire on a version in ``status``."""
    return [
        event
        for event, rules in TRANSITIONS.items()
        if any(r.source == status and side in r.sides for r in rules)
    ]


def _rule(event: str, status: str, side: Side) -> Rule:
    if event not in TRANSITIONS:
        raise NotFound(f"no event {event!r}; events are {list(EVENTS)}")
    for rule in TRANSITIONS[event]:
        if rule.source == status and side in rule.sides:
            return rule
    allowed = allowed_events(status, side)
    raise Conflict(
        f"cannot {event} a version that is {status}"
        + (f"; allowed: {', '.join(allowed)}" if allowed else "; no event is allowed"),
        status_now=status,
        allowed_events=allowed,
    )


def record(
    session: Session,
    version: ProductVersion,
    event: str,
    source: str | None,
    actor: Actor,
    at: dt.datetime,
    reason: str | None,
) -> ProductTransition:
    transition = ProductTransition(
        version_id=version.id,
        event=event,
        from_status=source,
        to_status=version.status,
        actor=actor.ref,
        actor_name=actor.name,
        at=at,
        reason=reason,
    )
    session.add(transition)
    return transition


def flush(session: Session, conflict: str) -> None:
    """Flush, turning a unique index that refuses the change (a concurrent request made a
    conflicting one first) into a 409 instead of a server error."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


def apply(
    session: Session,
    version: ProductVersion,
    event: str,
    actor: Actor,
    at: dt.datetime,
    reason: str | None = None,
) -> ProductTransition:
    """Fire ``event`` on ``version``; the caller has already checked that ``actor`` may
    see the version. The status changes only if it is still the one read (a conditional
    UPDATE), so of two concurrent requests one wins and the other gets the 409 of the
    status it finds; the partial unique indexes check the result at once."""
    rule = _rule(event, version.status, actor.side)
    if rule.reason_required and not (reason and reason.strip()):
        raise Invalid(f"{event} needs a reason", errors=[{"pointer": "/reason"}])
    source = version.status
    values: dict[str, object] = {"status": rule.target.value, "updated_at": at}
    if rule.target is VersionStatus.ONLINE:
        values["online_at"] = at
    try:
        landed = session.execute(
            update(ProductVersion)
            .where(ProductVersion.id == version.id, ProductVersion.status == source)
            .values(values)
            .execution_options(synchronize_session=False)
        )
    except IntegrityError as exc:
        raise Conflict(
            f"another version of this product became {rule.target.value} at the same moment"
        ) from exc
    session.refresh(version)
    if landed.rowcount != 1:  # type: ignore[attr-defined]
        _rule(event, version.status, actor.side)  # names what is allowed now
        raise Conflict(f"the version changed to {version.status} meanwhile")
    transition = record(session, version, event, source, actor, at, reason)
    session.flush()
    return transition
