"""A demand unclaimed after M working days is flagged to ops and pushed to the next
banks. The clock is frozen around China's 2026 National Day holiday: 1-7 October off,
Saturday 10 October a make-up working day (调休上班)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from finance.demands.service import MarketRules, sweep_overdue
from tests.demands.conftest import MarketFactory
from tests.demands.support import Market

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 30 September 2026, 10:00 in Beijing: the eve of the holiday.
EVE = dt.datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI).astimezone(dt.UTC)


def _beijing(day: int, month: int = 10, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SHANGHAI).astimezone(dt.UTC)


def _sweep(market: Market, now: dt.datetime, working_days: int, per_round: int = 3) -> list[int]:
    with market.world.sessions.begin() as session:
        return sweep_overdue(session, now, MarketRules(per_round, working_days)).flagged


def _seen(market: Market, demand_id: int, user: str = "legal_rep") -> dict[str, object]:
    browser, _ = market.portal(user)
    path = (
        f"/api/v1/my/demands/{demand_id}"
        if user.endswith("rep")
        else f"/api/v1/ops/demands/{demand_id}"
    )
    answer = browser.get(path)
    assert answer.status_code == 200, answer.text
    seen: dict[str, object] = answer.json()
    return seen


def test_three_working_days_run_across_the_holiday_into_the_make_up_saturday(
    make_market: MarketFactory,
) -> None:
    market = make_market(working_days=3, start=EVE)
    demand = market.posted()
    # Working days after 30 Sep: Thu 8 Oct, Fri 9 Oct, Sat 10 Oct (make-up); so the
    # round runs out at midnight ending Saturday 10 October.
    deadline = _beijing(11)
    assert dt.datetime.fromisoformat(demand["due_at"]) == deadline

    for quiet in (_beijing(7, hour=23), _beijing(9, hour=18), deadline - dt.timedelta(seconds=1)):
        assert _sweep(market, quiet, 3) == []
    assert _sweep(market, deadline, 3) == [demand["id"]]
    assert _sweep(market, deadline, 3) == []  # idempotent
    assert _sweep(market, deadline + dt.timedelta(hours=1), 3) == []


def test_two_working_days_skip_the_whole_holiday(make_market: MarketFactory) -> None:
    market = make_market(working_days=2, start=EVE)
    demand = market.posted()
    # Thu 1 Oct - Wed 7 Oct are holidays, 3-4 Oct a weekend inside them: due at the end
    # of Friday 9 October, not of Friday 2 October.
    assert dt.datetime.fromisoformat(demand["due_at"]) == _beijing(10)
    assert _sweep(market, _beijing(3), 2) == []
    assert _sweep(market, _beijing(10) - dt.timedelta(minutes=1), 2) == []
    assert _sweep(market, _beijing(10), 2) == [demand["id"]]


def test_flagged_and_pushed_to_the_next_banks(make_market: MarketFactory) -> None:
    market = make_market(working_days=2, start=EVE)
    demand = market.posted()
    assert market.bank_name_order(demand) == ["B1", "B2", "B3"]

    market.world.clock.now = _beijing(10, hour=9)
    assert _sweep(market, market.world.clock.now, 2) == [demand["id"]]
    seen = _seen(market, demand["id"])
    assert seen["status"] == "open"
    assert seen["push_round"] == 2
    assert seen["overdue_count"] == 1
    assert market.bank_name_order(seen, round_=2) == ["B4", "B5"]  # the next best, only
    kinds = [e["kind"] for e in seen["events"]]  # type: ignore[attr-defined]
    assert kinds == ["posted", "pushed", "overdue", "pushed"]
    # The new round runs two working days from Saturday 10 Oct (a working day itself
    # does not count): Mon 12, Tue 13 -> due at midnight ending Tuesday.
    assert dt.datetime.fromisoformat(str(seen["due_at"])) == _beijing(14)
    # The next banks see it now and may claim it; the first banks still may too.
    queue = market.bank_call("B4", "GET", "/api/v1/bank/demands").json()["items"]
    assert [(d["id"], d["round"], d["rank"]) for d in queue] == [(demand["id"], 2, 1)]

    # A third round finds nobody left, and is flagged again when it runs out.
    assert _sweep(market, _beijing(14), 2) == [demand["id"]]
    third = _seen(market, demand["id"])
    assert third["push_round"] == 3
    assert market.bank_name_order(third, round_=3) == []
    assert third["overdue_count"] == 2
    assert third["first_overdue_at"] != third["last_overdue_at"]

    claimed = market.bank_call("B5", "POST", f"/api/v1/bank/demands/{demand['id']}/claim")
    assert claimed.status_code == 200
    assert _sweep(market, _beijing(30), 2) == []  # claimed demands are never flagged


def test_ops_see_the_flagged_demands_by_city(make_market: MarketFactory) -> None:
    market = make_market(working_days=2, start=EVE)
    late = market.posted()
    theirs = market.posted(user="other_rep")  # a Pingdingshan enterprise's
    market.world.clock.now = _beijing(8, hour=9)
    fresh = market.posted()  # due at the end of Saturday 10 Oct
    assert _sweep(market, _beijing(10), 2) == [late["id"], theirs["id"]]

    province, _ = market.portal("ops_admin")
    flagged = province.get("/api/v1/ops/demands", params={"overdue": "true"}).json()["items"]
    assert {d["id"] for d in flagged} == {late["id"], theirs["id"]}
    unflagged = province.get("/api/v1/ops/demands", params={"overdue": "false"}).json()["items"]
    assert [d["id"] for d in unflagged] == [fresh["id"]]

    zhengzhou, _ = market.portal("zz_auditor")
    mine = zhengzhou.get("/api/v1/ops/demands", params={"overdue": "true"}).json()["items"]
    assert [d["id"] for d in mine] == [late["id"]]
    assert zhengzhou.get(f"/api/v1/ops/demands/{late['id']}").status_code == 200
    assert zhengzhou.get(f"/api/v1/ops/demands/{theirs['id']}").status_code == 404
    pingdingshan, _ = market.portal("pds_auditor")
    assert pingdingshan.get(f"/api/v1/ops/demands/{late['id']}").status_code == 404
    assert pingdingshan.get(f"/api/v1/ops/demands/{theirs['id']}").status_code == 200
