"""Runs the store against the PostgreSQL server of the environment (PG* variables, as pg_virtualenv sets them).

Started as a subprocess by test_postgres.py so that a throw-away cluster exists only for this check.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys

from gateway.config import Settings
from gateway.handoff import Handoffs
from gateway.store import ReservationConflict, Store
from gateway.store.campaigns import CampaignRecords, CampaignSpec, NewRow
from tests.integration.test_concurrent_bookings import book_concurrently


async def check() -> None:
    url = f"postgresql://{os.environ['PGUSER']}:{os.environ['PGPASSWORD']}@{os.environ['PGHOST']}:{os.environ['PGPORT']}/{os.environ['PGDATABASE']}"
    settings = Settings(_env_file=None, database_url=url)
    assert settings.database_url.startswith("postgresql+asyncpg://")
    store = Store(settings.database_url)
    await store.open()
    await store.open()  # a second start finds the tables and the seed in place
    assert await store.ping()
    assert len(await store.list_locations()) == 4
    await store.start_conversation("web-1", "webrtc", "rent-a-car", "browser", 1.9e9)
    await store.add_turn("web-1", "user", "羽田で車を借りたい", 1.9e9)
    await store.add_tool_call("web-1", "c1", "get_availability", "{}", '{"ok": true, "next_step": "confirm"}', True, 2.5)
    await store.end_conversation("web-1", "completed", 1.9e9 + 60)
    await store.set_summary("web-1", "羽田での予約相談")
    found = await store.search_conversations(q="羽田", channel="webrtc")
    assert [c["id"] for c in found] == ["web-1"], found
    start, end = dt.datetime(2031, 1, 1, 10), dt.datetime(2031, 1, 1, 18)
    first = await store.create_reservation("tokyo-station", start, end, "山田", "minivan", "web-1")
    assert first["reservation_number"] == "R-0001"
    try:
        await store.create_reservation("tokyo-station", start, end, "佐藤", "minivan", None)
    except ReservationConflict:
        pass
    else:
        raise AssertionError("double booking accepted")
    # two stores (two workers) booking haneda's two minivans at once: the database refuses every double booking
    other = Store(settings.database_url)
    booked, refused = await book_concurrently([store, other], 12)
    vehicles = sorted(b["vehicle"]["id"] for b in booked)
    assert vehicles == ["haneda-minivan-1", "haneda-minivan-2"] and refused == 10, (vehicles, refused)
    assert len({b["reservation_number"] for b in booked}) == 2
    await other.close()
    await store.start_conversation("phone-1", "phone", "rent-a-car", "+81", 1.9e9)
    handoffs = Handoffs(store)
    code = await handoffs.issue("web-1")
    continuation = await handoffs.claim(code, "phone-1")
    assert continuation is not None and continuation.step == "confirm"
    assert (await store.conversation("phone-1"))["continued_from"] == "web-1"
    await one_winner_per_code(store, Store(settings.database_url))
    await campaign_state(store, Store(settings.database_url))
    await store.close()


async def campaign_state(first: Store, second: Store) -> None:
    """A campaign's rows and lease on PostgreSQL: one claim per row, a live number not claimed by another campaign,
    one runner per campaign across two engines (two workers), counts and rows with the call's summary."""
    records, others = CampaignRecords(first), CampaignRecords(second)
    spec = CampaignSpec("pg", "rent-a-car", "acs", 2, 1, 0.0, "09:00-20:00")
    campaign = await records.create(spec, [NewRow(2, "+819012345001", "山田", {"会社": "A社"}), NewRow(3, "12", invalid_reason="not a number")])
    rival = await records.create(spec, [NewRow(2, "+819012345001")])
    assert await records.take_lease(campaign, "worker-1", 30) and not await others.take_lease(campaign, "worker-2", 30)
    due = await records.due(campaign, 5)
    assert [(d.line, d.variables) for d in due] == [(2, {"会社": "A社"})]
    claims = await asyncio.gather(records.claim(campaign, 2, "+819012345001", "web-1"), others.claim(campaign, 2, "+819012345001", "web-x"))
    assert sorted(claims) == [False, True], claims
    assert not await records.claim(rival, 2, "+819012345001", "web-y")  # live in the first campaign
    await records.finish(campaign, 2, "busy", duration_s=None, reason="busy", retry_at=dt.datetime.now(dt.UTC))
    assert await records.claim(campaign, 2, "+819012345001", "web-1")
    await records.finish(campaign, 2, "answered", duration_s=12.5, reason="", retry_at=None)
    assert await records.close_if_complete(campaign)
    summary = await others.summary(campaign)
    assert summary is not None and summary["status"] == "done" and summary["outcomes"] == {"answered": 1}, summary
    assert summary["invalid"] == 1 and summary["dialled"] == 1
    rows = await others.rows(campaign)
    assert [(r["line"], r["outcome"], r["attempts"], r["summary"]) for r in rows] == [(2, "answered", 2, "羽田での予約相談"), (3, "invalid", 0, None)]
    await records.release_lease(campaign, "worker-1")
    assert await others.take_lease(campaign, "worker-2", 30)
    await one_live_number_across_campaigns(records, others, spec)
    await second.close()


async def one_live_number_across_campaigns(records: CampaignRecords, others: CampaignRecords, spec: CampaignSpec) -> None:
    """Two campaigns on two engines (two workers) claim the same number at the same moment, again and again: the
    primary key of live_numbers lets exactly one through each time, and the winner's end frees the number."""
    number = "+819012345999"
    for round_ in range(6):
        a = await records.create(spec, [NewRow(2, number)])
        b = await others.create(spec, [NewRow(2, number)])
        won = await asyncio.gather(records.claim(a, 2, number, f"phone-a{round_}"), others.claim(b, 2, number, f"phone-b{round_}"))
        assert sorted(won) == [False, True], won
        winner, loser, store_of_loser = (a, b, others) if won[0] else (b, a, records)
        assert not await store_of_loser.claim(loser, 2, number, "phone-late")  # still live
        await records.finish(winner, 2, "answered", duration_s=1.0, reason="", retry_at=None)
        assert await store_of_loser.claim(loser, 2, number, f"phone-c{round_}")
        await store_of_loser.finish(loser, 2, "answered", duration_s=1.0, reason="", retry_at=None)


async def one_winner_per_code(first: Store, second: Store) -> None:
    """Two engines stand for two worker processes; eight claimants race for each code: exactly one wins."""
    await second.open()
    for round_ in range(5):
        code = await Handoffs(first).issue("web-1")
        claimants = [f"phone-race-{round_}-{i}" for i in range(8)]
        for claimant in claimants:
            await first.start_conversation(claimant, "phone", "rent-a-car", "+81", 1.9e9)
        stores = [first, second] * 4
        won = await asyncio.gather(*(s.claim_handoff(code, c) for s, c in zip(stores, claimants, strict=True)))
        assert [w for w in won if w is not None] == ["web-1"], won
    await second.close()


if __name__ == "__main__":
    asyncio.run(check())
    sys.stdout.write("postgres ok\n")
