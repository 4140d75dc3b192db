"""The demo points its 310 walk at an enterprise and a product that the decision task
approves (``finance.demo.walk_target``), so ``make demo``'s walk ends in a loan."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from finance.core.settings import Settings
from finance.demo import walk_target
from tests.authz.support import World
from tests.lending.support import POLICY, Journey, live_model, online_version
from tests.lending.test_applications import _decide

pytestmark = pytest.mark.slow


def test_the_walk_is_pointed_at_a_product_the_decision_approves(
    world: World, settings: Settings, session: Session
) -> None:
    live_model(settings, session)
    data_dir = settings.resolved_data_dir
    as_of = world.now.date()
    refers_everyone = POLICY | {"approve_min_score": 900, "refer_min_score": 300}
    with world.sessions.begin() as work:
        online_version(work, world.bank_id, code="REFERS", policy=refers_everyone)
        online_version(work, world.bank_id, code="BY-HAND", auto_decision=False)
    with world.sessions() as work:
        # Refused: nothing the enterprise could be approved for automatically.
        assert walk_target(work, data_dir, uscc=world.uscc, as_of=as_of) is None
    with world.sessions.begin() as work:
        approving = online_version(work, world.bank_id, code="APPROVES")
    with world.sessions() as work:
        target = walk_target(work, data_dir, uscc=world.uscc, bank_id=world.bank_id, as_of=as_of)
        assert target is not None
        assert target.version.id == approving
        assert target.uscc == world.uscc
        # Another bank has no such product: nothing to walk there.
        assert walk_target(work, data_dir, uscc=world.uscc, bank_id=-1, as_of=as_of) is None

    journey = Journey(world, approving)
    draft = journey.draft(
        target.amount_fen, term_months=target.term_months, repayment_method=target.method
    )
    assert journey.submit(draft["id"]).status_code == 201
    assert _decide(world, draft["id"]) == "approve"
    offer = journey.application(draft["id"])["decision"]
    assert offer["amount_fen"] == target.amount_fen
