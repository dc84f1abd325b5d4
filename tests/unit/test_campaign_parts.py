"""The parts of a campaign that need no gateway: the call list, calling hours, outcomes, the export."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.campaigns.call_list import CallListError, parse_call_list
from gateway.campaigns.export import csv_chunks, to_csv
from gateway.campaigns.hours import CallingHours, opens_at
from gateway.campaigns.runner import campaign_outcome
from gateway.events import CampaignProgress
from gateway.shared.hub_mirror import decode_event, encode_event

TOKYO = ZoneInfo("Asia/Tokyo")


def test_a_call_list_is_normalised_and_bad_or_repeated_rows_are_reported() -> None:
    text = "\ufeff電話番号,氏名,会社\n090-1234-5678,山田,A社\n12,佐藤,B社\n+81 90 1234 5678,山田（重複）,A社\n03-1111-2222,鈴木,C社\n"
    call_list = parse_call_list(text)
    assert [(p.line, p.to, p.name) for p in call_list.prospects] == [(2, "+819012345678", "山田"), (5, "+81311112222", "鈴木")]
    assert call_list.prospects[0].variables == {"name": "山田", "会社": "A社"}
    assert [(b.line, b.reason.split(":")[0]) for b in call_list.bad_rows] == [(3, "not a valid phone number"), (4, "the same number as line 2")]


def test_free_columns_must_be_variable_names() -> None:
    call_list = parse_call_list("phone,name,会社 名\n090-1234-5678,山田,A社\n")
    assert call_list.prospects == [] and "variable name" in call_list.bad_rows[0].reason


def test_a_file_without_a_phone_column_is_refused() -> None:
    with pytest.raises(CallListError, match="phone number column"):
        parse_call_list("name,company\n山田,A社\n")


def test_calling_hours_in_tokyo() -> None:
    hours = CallingHours.parse("09:00-20:00", "mon-fri", "Asia/Tokyo")
    friday_evening = dt.datetime(2026, 12, 4, 19, 59, tzinfo=TOKYO)
    assert hours.allows(friday_evening)
    assert not hours.allows(friday_evening + dt.timedelta(minutes=1))
    assert hours.allows(dt.datetime(2026, 12, 4, 1, 0, tzinfo=dt.UTC))  # 10:00 in Tokyo
    assert hours.next_open(dt.datetime(2026, 12, 4, 20, 30, tzinfo=TOKYO)) == dt.datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO)
    assert CallingHours.parse("10:00-12:00", "sat,sun").allows(dt.datetime(2026, 12, 5, 11, 0, tzinfo=TOKYO))
    for window, days in (("20:00-09:00", "mon"), ("9-17", "mon"), ("09:00-17:00", "someday")):
        with pytest.raises(ValueError):
            CallingHours.parse(window, days)


def test_a_running_campaign_outside_its_hours_says_when_it_dials() -> None:
    campaign = {"status": "running", "hours": "09:00-20:00", "days": "mon-fri", "tz": "Asia/Tokyo"}
    saturday = dt.datetime(2026, 12, 5, 16, 0, tzinfo=TOKYO)
    assert opens_at(campaign, saturday) == "2026-12-07T09:00:00+09:00"
    assert opens_at(campaign, dt.datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)) is None  # within the hours
    assert opens_at({**campaign, "status": "paused"}, saturday) is None
    assert opens_at({**campaign, "hours": None}, saturday) is None  # any time


@pytest.mark.parametrize(
    ("record", "outcome"),
    [
        ({"status": "busy"}, "busy"),
        ({"status": "no_answer"}, "no_answer"),
        ({"status": "machine_message_left"}, "machine"),
        ({"status": "transferred", "duration_s": 40}, "transferred"),
        ({"status": "caller_hung_up", "duration_s": 31.5, "sms_after_call": "sent"}, "booked"),
        ({"status": "caller_hung_up", "duration_s": 12.0, "sms_after_call": "not_due"}, "answered"),
        ({"status": "failed", "error": "401"}, "failed"),
    ],
)
def test_campaign_outcomes(record: dict, outcome: str) -> None:
    assert campaign_outcome(record) == outcome


def test_the_export_opens_in_excel_in_japan() -> None:
    data = to_csv([{"line": 2, "to": "+819012345678", "name": "山田", "outcome": "answered", "summary": "折り返し希望, 明日"}])
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("line,to,name,outcome") and '"折り返し希望, 明日"' in text


@pytest.mark.parametrize(
    ("succeeded", "outcome"),
    [
        (frozenset({"book_meeting"}), "booked"),  # the profile's booking tool succeeded, even with no SMS to send
        (frozenset({"record_declined"}), "declined"),
        (frozenset({"book_meeting", "record_declined"}), "booked"),  # a booking made after a first no counts
        (frozenset(), "answered"),
    ],
)
def test_booked_and_declined_come_from_the_tools_that_succeeded(succeeded: frozenset[str], outcome: str) -> None:
    record = {"status": "caller_hung_up", "duration_s": 20.0, "sms_after_call": "none"}
    assert campaign_outcome(record, succeeded, "book_meeting") == outcome
    assert campaign_outcome({"status": "busy"}, succeeded, "book_meeting") == "busy"  # what the carrier said wins


async def test_a_streamed_export_reads_page_by_page_and_matches_the_whole_file() -> None:
    rows = [{"line": i, "to": f"+8190{i:08d}", "name": "山田", "outcome": "booked"} for i in range(2, 9)]
    asked: list[tuple[int, int]] = []

    async def page(offset: int, limit: int) -> list[dict]:
        asked.append((offset, limit))
        return rows[offset : offset + limit]

    streamed = b"".join([chunk async for chunk in csv_chunks(page, page_rows=3)])
    assert streamed == to_csv(rows) and streamed.startswith(b"\xef\xbb\xbf")
    assert asked == [(0, 3), (3, 3), (6, 3)]  # the last, short page ends it


def test_campaign_progress_crosses_processes_on_the_hub_mirror() -> None:
    """The mirror rebuilds it from its JSON in another process (so every worker's console gets the pushes)."""
    event = CampaignProgress("cmp-0123456789ab", "running", 20, 1, 5, 2, 3, {"booked": 2, "busy": 1})
    assert decode_event(encode_event(event)) == event
