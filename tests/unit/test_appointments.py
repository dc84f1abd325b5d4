"""The store's appointment book and the ICS file, on a real SQLite store: the slot grid, one winner for a slot
however many book it at once, a cancel freeing the slot, the file's RFC 5545 shape; and the booking tools' errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.appointments import OpeningHours, Slot, SlotTaken, StoreCalendar, UnknownSlot
from gateway.appointments.ics import booking_ics, fold
from gateway.config import Settings
from gateway.services import build_registry
from gateway.store import Store
from gateway.tools import ToolContext
from tests.hardening.test_fuzz_inputs import check_outcome, tool_arguments

NOW = dt.datetime(2026, 12, 4, 18, 0)  # a Friday evening, Japan time
MONDAY = dt.datetime(2026, 12, 7)


@pytest.fixture
async def store(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'book.db'}")
    await store.open()
    yield store
    await store.close()


def book_of(store: Store) -> StoreCalendar:
    return StoreCalendar(store, now=lambda: NOW)


async def test_free_slots_follow_the_opening_hours_and_leave_out_booked_ones(store) -> None:
    book = book_of(store)
    slots = await book.free_slots(dt.datetime(2026, 12, 4), dt.datetime(2026, 12, 8))  # Fri (past hours), Sat, Sun, Mon
    assert {s.start.date() for s in slots} == {MONDAY.date()}
    assert [s.start.time() for s in slots[:5]] == [dt.time(10), dt.time(10, 30), dt.time(11), dt.time(11, 30), dt.time(13)]
    assert len(slots) == 12 and all(s.end - s.start == dt.timedelta(minutes=30) for s in slots)
    await book.book(Slot.starting(MONDAY.replace(hour=10)), "佐藤", {})
    after = await book.free_slots(dt.datetime(2026, 12, 4), dt.datetime(2026, 12, 8))
    assert MONDAY.replace(hour=10) not in {s.start for s in after} and len(after) == 11


async def test_one_slot_has_one_winner_however_many_book_it_at_once(store) -> None:
    books = [book_of(store) for _ in range(6)]  # as if six calls on six workers
    slot = Slot.starting(MONDAY.replace(hour=11))
    results = await asyncio.gather(*(b.book(slot, f"客{i}", {}) for i, b in enumerate(books)), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and all(isinstance(r, SlotTaken) for r in results if r not in winners)


async def test_a_cancel_frees_the_slot_and_the_file_says_cancelled(store) -> None:
    book = book_of(store)
    slot = Slot.starting(MONDAY.replace(hour=13))
    booking = await book.book(slot, "佐藤", {"company": "テスト商事"}, "conv-1")
    cancelled = await book.cancel(booking.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert await book.cancel("M-NOSUCH") is None
    again = await book.book(slot, "鈴木", {})
    assert again.id != booking.id
    [event] = icalendar.Calendar.from_ical(booking_ics(cancelled, "商談")).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    assert [b.id for b in await book.bookings_of("conv-1")] == [booking.id]


@pytest.mark.parametrize("start", [dt.datetime(2026, 12, 7, 10, 15), dt.datetime(2026, 12, 5, 10), dt.datetime(2026, 12, 7, 12), dt.datetime(2026, 12, 4, 10)])
async def test_a_slot_off_the_grid_is_refused(store, start: dt.datetime) -> None:
    with pytest.raises(UnknownSlot):  # 10:15 off the grid, a Saturday, the lunch hour, the past
        await book_of(store).book(Slot.starting(start), "佐藤", {})


async def test_the_ics_file_is_rfc_5545(store) -> None:
    booking = await book_of(store).book(Slot.starting(MONDAY.replace(hour=14)), "佐藤", {})
    text = booking_ics(booking, "商談: 株式会社テスト, 東京;本社 " + "長い名前" * 20, "電話: +819012345678\n担当: 営業部")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))  # folded, by octets
    [event] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(event["SUMMARY"]).startswith("商談: 株式会社テスト, 東京;本社 長い名前")  # escaped, unfolded
    assert str(event["DESCRIPTION"]) == "電話: +819012345678\n担当: 営業部"
    start = event.decoded("DTSTART")
    assert str(start.tzinfo) == "Asia/Tokyo" and start.utcoffset() == dt.timedelta(hours=9)
    assert start.replace(tzinfo=None) == MONDAY.replace(hour=14)
    assert str(event["UID"]) == f"{booking.id}@voice-gateway.appointments" and event.decoded("DTSTAMP").utcoffset() == dt.timedelta(0)


def test_folding_never_splits_a_character() -> None:
    line = "SUMMARY:" + "あ" * 60
    folded = fold(line).split("\r\n ")
    assert "".join(folded) == line and all(len(part.encode()) <= 75 for part in folded)


async def test_the_tools_refuse_a_bad_slot_id_with_a_clear_error(store) -> None:
    registry = build_registry(Settings(_env_file=None))
    ctx = ToolContext(session_id="phone-test", store=store, channel="phone", caller="+819012345678")
    outcome = await registry.call("book_meeting", {"slotId": "来週の月曜", "name": "佐藤"}, ctx)
    assert not outcome.ok and outcome.output["error"]["code"] == "unknown_slot"
    outcome = await registry.call("find_free_slots", {"fromDate": "12/7"}, ctx)
    assert not outcome.ok and outcome.output["error"]["code"] == "bad_arguments"


def test_the_opening_hours_grid_keeps_the_lead_time() -> None:
    hours = OpeningHours(lead_minutes=60)
    slots = hours.grid(dt.datetime(2026, 12, 7), dt.datetime(2026, 12, 8), now=dt.datetime(2026, 12, 7, 10, 10))
    assert slots[0].start == dt.datetime(2026, 12, 7, 11, 30)
    assert json.dumps([s.slot_id for s in slots[:1]]) == '["2026-12-07T11:30"]'


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_the_booking_tools_refuse_any_bad_argument_clearly(store, data: st.DataObject) -> None:
    """Dates of any year, malformed slot ids, odd names: a clear refusal or a result, never a tool crash."""
    registry = build_registry(Settings(_env_file=None))
    name = data.draw(st.sampled_from(["find_free_slots", "book_meeting"]), label="tool")
    properties = list(registry.get(name).parameters["properties"])  # type: ignore[union-attr]
    arguments = data.draw(tool_arguments(properties), label="arguments")
    ctx = ToolContext(session_id="fuzz-session", store=store, channel="phone", caller="+819012345678")
    outcome = await registry.call(name, arguments, ctx)
    check_outcome(name, outcome.ok, outcome.output)
