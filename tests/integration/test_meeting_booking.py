"""The shipped outbound profile (meeting-booking) books a meeting on a call placed through ``POST /api/calls``, on
each carrier through its official SDK against the emulators: free slots read back in Japanese, the booking in the
calendar and in the call's record, its ICS file behind API_TOKEN, the scenario steps moved by the tools, the SMS
after the call. A slot someone else took first is refused with a tool error, and then no SMS is sent."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import icalendar
import pytest

from gateway.appointments import Slot, StoreCalendar
from gateway.emulators.acs import Silence
from gateway.emulators.realtime import CallTool, Say, Script
from gateway.japan_time import japan_now
from tests.conftest import speech
from tests.integration.outbound_rig import API_TOKEN, OUTBOUND_SETTINGS, call_record, post_call, record_reaches
from tests.integration.phone_rig import phone_rig
from tests.integration.test_sms_after_call import sms_decided
from tests.integration.test_twilio_webhooks import wait_until
from tests.integration.twilio_rig import twilio_rig

PROSPECT = "+819012345678"
SETTINGS = {**OUTBOUND_SETTINGS, "agent": "meeting-booking"}
GREETING = "お世話になっております。サンプル商事のAIアシスタントでございます。佐藤様でいらっしゃいますか。"
LISTENS = Silence(2500)  # the callee hears the agent out before answering (turn_based: it is heard after playout)


def next_monday() -> dt.date:
    day = japan_now().date() + dt.timedelta(days=2)
    while day.weekday() != 0:
        day += dt.timedelta(days=1)
    return day


def script(monday: dt.date) -> Script:
    return Script(
        steps=[
            Say(GREETING),
            CallTool("find_free_slots", {"fromDate": monday.isoformat(), "days": 5}, then=Say("{output[slots][0][spoken]}はいかがでしょうか。")),
            CallTool(
                "book_meeting",
                {"slotId": f"{monday.isoformat()}T10:00", "name": "佐藤", "company": "テスト商事"},
                then=Say("承知いたしました。"),
            ),
        ]
    )


@contextlib.asynccontextmanager
async def outbound_call(carrier: str, tmp_path, monday: dt.date) -> AsyncIterator[tuple[Any, Any, str]]:
    """A placed call to the prospect, answered by a person: (rig, the emulated call, the call's id)."""
    if carrier == "acs":
        rig_cm = phone_rig(tmp_path, script(monday), acs_options={"ring_delay_s": 0.05}, **SETTINGS)
    else:
        rig_cm = twilio_rig(tmp_path, script(monday), **SETTINGS)
    async with rig_cm as rig:
        if carrier == "acs":  # the short-silence check hears "こんにちは。" then silence: a person
            rig.acs.set_outbound_outcome(PROSPECT, "answer", [speech("ja_greeting_reply", 16), Silence(1500)], keys=None)
            rig.acs.config.sms_events_url = rig.incoming_url
        status, body = await post_call(rig.url, {"to": "090-1234-5678", "carrier": carrier, "variables": {"name": "佐藤"}})
        assert status == 202, body
        if carrier == "acs":
            call = await rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5)
        else:
            call = await rig.twilio.wait_for_call(lambda c: c.to == PROSPECT, 5)
        yield rig, call, body["id"]


async def responses_done(rig: Any, n: int) -> Any:
    session = await rig.realtime.wait_for_session(1, timeout=15)
    await session.wait_for(lambda s: len(s.responses) >= n and s.responses[-1].status == "completed", 30)
    return session


async def walk_the_call(rig: Any, call: Any) -> Any:
    """Greeting → the callee answers → free slots offered → the callee agrees → booking → thanks."""
    await responses_done(rig, 1)
    for item in (LISTENS, speech("ja_greeting_reply", 16), Silence(1500)):
        call.say(item)
    await responses_done(rig, 3)
    for item in (LISTENS, speech("ja_compact", 16), Silence(1500)):
        call.say(item)
    return await responses_done(rig, 5)


async def get(base: str, path: str, token: str | None = API_TOKEN) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(f"{base}{path}", headers=headers) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def tool_results(conversation: dict) -> dict[str, dict]:
    return {t["name"]: json.loads(t["result"]) for t in conversation["tool_calls"]}


@pytest.mark.parametrize("carrier", ["twilio", "acs"])
async def test_a_meeting_is_booked_on_an_outbound_call(tmp_path, carrier: str) -> None:
    monday = next_monday()
    async with outbound_call(carrier, tmp_path, monday) as (rig, call, call_id):
        session = await walk_the_call(rig, call)
        await call.hang_up()
        await record_reaches(rig.url, call_id, "caller_hung_up", "media_closed")
        await sms_decided(rig.url, call_id, "sent")

        await rig.gw.writer.flush(timeout=5)
        conversation = await rig.gw.store.conversation(call_id)
        results = tool_results(conversation)
        first = results["find_free_slots"]["slots"][0]
        assert first["slot_id"] == f"{monday.isoformat()}T10:00"
        assert first["spoken"].endswith("ゲツヨウビ ゴゼン ジュウジ")  # the readings module's date and time
        assert any(t["role"] == "assistant" and first["spoken"] in t["text"] for t in conversation["turns"])
        booked = results["book_meeting"]
        assert booked["ok"] and booked["meeting_written"] == f"{monday.month}月{monday.day}日(月) 10:00〜10:30"
        steps = "\n".join(session.instructions_history)  # prompt chaining: each tool moved the step on
        assert "## Step propose" in steps and "## Step close" in steps

        record = await call_record(rig.url, call_id)
        [appointment] = record["appointments"]
        assert appointment["start"] == f"{monday.isoformat()}T10:00" and appointment["who"] == "佐藤"
        assert appointment["variables"]["phone"] == PROSPECT and appointment["variables"]["company"] == "テスト商事"
        assert appointment["ics"] == f"/api/appointments/{booked['booking_id']}.ics"

        status, content_type, text = await get(rig.url, appointment["ics"])
        assert status == 200 and content_type.startswith("text/calendar")
        [event] = icalendar.Calendar.from_ical(text).walk("VEVENT")
        assert event["UID"] == f"{booked['booking_id']}@voice-gateway.appointments"
        start = event.decoded("DTSTART")
        assert str(start.tzinfo) == "Asia/Tokyo" and start.replace(tzinfo=None) == dt.datetime.combine(monday, dt.time(10))
        assert event.decoded("DTEND") - start == dt.timedelta(minutes=30)
        assert event.decoded("DTSTAMP").utcoffset() == dt.timedelta(0)
        assert "佐藤" in str(event["SUMMARY"]) and "テスト商事" in str(event["SUMMARY"])
        assert (await get(rig.url, appointment["ics"], token=None))[0] == 401
        assert (await get(rig.url, appointment["ics"], token="wrong"))[0] == 401

        if carrier == "twilio":
            message = await rig.twilio.wait_for_message(timeout_s=10)
            text = message.body
        else:
            await wait_until(lambda: rig.acs.sms, 10, "the SMS")
            text = rig.acs.sms[0].message
        assert text.startswith("佐藤様 サンプル商事です。") and booked["meeting_written"] in text and "{" not in text


@pytest.mark.parametrize("carrier", ["twilio", "acs"])
async def test_a_slot_taken_first_is_refused_and_no_sms_follows(tmp_path, carrier: str) -> None:
    monday = next_monday()
    async with outbound_call(carrier, tmp_path, monday) as (rig, call, call_id):
        # another call books Monday 10:00 while this one is ringing; this callee then agrees to it all the same
        await StoreCalendar(rig.gw.store).book(Slot.starting(dt.datetime.combine(monday, dt.time(10))), "別の見込み客", {}, "another-call")
        await walk_the_call(rig, call)
        await call.hang_up()
        await record_reaches(rig.url, call_id, "caller_hung_up", "media_closed")
        await sms_decided(rig.url, call_id, "not_due")
        await rig.gw.writer.flush(timeout=5)
        results = tool_results(await rig.gw.store.conversation(call_id))
        assert results["book_meeting"]["ok"] is False
        assert results["book_meeting"]["error"]["code"] == "slot_taken"
        assert "booked by someone else" in results["book_meeting"]["error"]["message"]
        assert (await call_record(rig.url, call_id))["appointments"] == []
        assert (rig.twilio.messages if carrier == "twilio" else rig.acs.sms) == []


@pytest.mark.parametrize("carrier", ["twilio", "acs"])
async def test_the_offline_demo_engine_walks_the_booking(tmp_path, carrier: str) -> None:
    """``voice-gateway demo``'s scripted model (not a test script) books on what the callee's recordings say."""
    from gateway.emulators.demo_script import phone_demo_script

    rig_cm = (
        phone_rig(tmp_path, phone_demo_script(), acs_options={"ring_delay_s": 0.05}, **SETTINGS)
        if carrier == "acs"
        else twilio_rig(tmp_path, phone_demo_script(), **SETTINGS)
    )
    async with rig_cm as rig:
        if carrier == "acs":
            rig.acs.set_outbound_outcome(PROSPECT, "answer", [speech("ja_greeting_reply", 16), Silence(1500)], keys=None)
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": carrier, "variables": {"name": "佐藤"}})
        assert status == 202
        call = await (rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5) if carrier == "acs" else rig.twilio.wait_for_call(lambda c: c.to == PROSPECT, 5))
        session = await responses_done(rig, 1)
        assert "佐藤様でいらっしゃいますか" in session.responses[0].outputs[0].transcript
        for item in (LISTENS, speech("ja_greeting_reply", 16), Silence(1500)):
            call.say(item)
        await responses_done(rig, 3)
        for item in (LISTENS, speech("ja_backchannel_hai", 16), Silence(1500)):
            call.say(item)
        await responses_done(rig, 5)
        await call.hang_up()
        await record_reaches(rig.url, body["id"], "caller_hung_up", "media_closed")
        await sms_decided(rig.url, body["id"], "sent")
        [appointment] = (await call_record(rig.url, body["id"]))["appointments"]
        assert appointment["who"] == "佐藤"


async def test_demo_call_dials_a_prospect_who_books(tmp_path) -> None:
    """``voice-gateway demo --call``'s prospect and report, against a gateway on the demo's scripted model."""
    import io

    from gateway.demo_outbound import place_demo_call
    from gateway.emulators.demo_script import phone_demo_script

    async with twilio_rig(tmp_path, phone_demo_script(), **SETTINGS) as rig:
        out = io.StringIO()
        await place_demo_call(rig.url, API_TOKEN, "090-1234-5678", "twilio", rig.twilio, rig.gw, out)
        text = out.getvalue()
        assert "prospect: はい。" in text and "outcome: caller_hung_up; SMS after the call: sent" in text, text
        assert "booked: " in text and "/api/appointments/M-" in text and "SMS to +819012345678: 佐藤様" in text, text
