"""The SMS after an outbound call, on each carrier: the profile's template with the call's variables and the
booking's output, sent only when the booking tool succeeded; delivery status in the record (Twilio's signed status
callbacks; ACS's SMS endpoint, HMAC-checked like Call Automation, and its Event Grid delivery reports)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.emulators.acs import Silence
from gateway.emulators.realtime import CallTool, Say, Script
from tests.conftest import speech, speech_text
from tests.integration.outbound_rig import CALLER_ID, OUTBOUND_SETTINGS, call_record, post_call, record_reaches
from tests.integration.phone_rig import phone_rig
from tests.integration.test_phone_call import RESERVATION
from tests.integration.test_twilio_webhooks import wait_until
from tests.integration.twilio_rig import twilio_rig

PROSPECT = "+819012345678"
PROFILE = """---
name: booking-call
greeting: こんにちは、レンタカー予約センターです。
greeting_mode: play
tools: [create_reservation]
sms_after_call:
  text: "{name}様 ご予約ありがとうございます。予約番号 {reservation_number}"
  when_tool: create_reservation
---
予約をお手伝いしてください。
"""
CALLEE_SAYS = [speech("ja_reserve_car", 16), Silence(5000)]


def settings(tmp_path: Path) -> dict:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "booking.md").write_text(PROFILE, encoding="utf-8")
    return {**OUTBOUND_SETTINGS, "agents_dir": folder, "agent": "booking-call"}


def script(booked: bool) -> Script:
    step = CallTool("create_reservation", RESERVATION, then=Say("ご予約を承りました。")) if booked else Say("また改めてご連絡します。")
    return Script(steps=[step], user_transcripts=[speech_text("ja_reserve_car")])


async def sms_reach(base: str, call_id: str, status: str) -> list[dict]:
    """The call's SMS records once the last one has ``status`` (written when the carrier answers or reports)."""
    rows: list[dict] = []

    async def check() -> bool:
        nonlocal rows
        rows = (await call_record(base, call_id))["sms"]
        return bool(rows) and rows[-1]["status"] == status

    for _ in range(200):
        if await check():
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"SMS of {call_id}: {rows}, not {status}")


async def sms_decided(base: str, call_id: str, decision: str) -> None:
    for _ in range(200):
        record = await call_record(base, call_id)
        if record["sms_after_call"] != "pending":
            assert record["sms_after_call"] == decision, record
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no SMS decision for {call_id}")


@pytest.mark.parametrize("booked", [True, False])
async def test_twilio_sms_only_after_a_booking_with_its_delivery_status(tmp_path, booked: bool) -> None:
    async with twilio_rig(tmp_path, script(booked), **settings(tmp_path)) as rig:
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": "twilio", "variables": {"name": "山田"}})
        assert status == 202
        call = await rig.twilio.wait_for_call(lambda c: c.to == PROSPECT, 5)
        for item in CALLEE_SAYS:
            call.say(item)
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= (2 if booked else 1) and s.responses[-1].status == "completed", 25)
        assert await call.hang_up() == "completed"
        await record_reaches(rig.url, body["id"], "caller_hung_up")
        if not booked:
            await sms_decided(rig.url, body["id"], "not_due")
            assert rig.twilio.messages == [] and (await call_record(rig.url, body["id"]))["sms"] == []
            return
        message = await rig.twilio.wait_for_message(timeout_s=10)
        assert message.to == PROSPECT and message.from_ == CALLER_ID
        assert message.body.startswith("山田様 ご予約ありがとうございます。予約番号 ") and "{" not in message.body
        rows = await sms_reach(rig.url, body["id"], "delivered")
        assert [(m["message_id"], m["status"]) for m in rows] == [(message.sid, "delivered")]


@pytest.mark.parametrize("booked", [True, False])
async def test_acs_sms_only_after_a_booking(tmp_path, booked: bool) -> None:
    async with phone_rig(tmp_path, script(booked), acs_options={"ring_delay_s": 0.05}, **settings(tmp_path)) as rig:
        rig.acs.set_outbound_outcome(PROSPECT, "answer", CALLEE_SAYS)
        rig.acs.config.sms_events_url = rig.incoming_url  # the Event Grid subscription for SMS events
        status, body = await post_call(rig.url, {"to": "090-1234-5678", "carrier": "acs", "variables": {"name": "佐藤"}})
        assert status == 202
        call = await rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5)
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= (2 if booked else 1) and s.responses[-1].status == "completed", 25)
        await call.hang_up()
        await record_reaches(rig.url, body["id"], "caller_hung_up", "media_closed")
        if not booked:
            await sms_decided(rig.url, body["id"], "not_due")
            assert rig.acs.sms == [] and "sms" not in rig.acs.operations()
            return
        await wait_until(lambda: rig.acs.sms, 10, "the SMS")
        [sms] = rig.acs.sms
        assert sms.to == PROSPECT and sms.from_ == CALLER_ID and sms.delivery_report and sms.tag == body["id"]
        assert sms.message.startswith("佐藤様 ご予約ありがとうございます。予約番号 ")
        [request] = rig.acs.requests_for("sms")
        assert request.status == 202  # the SDK's HMAC checked by the emulator
        await sms_decided(rig.url, body["id"], "sent")
        rows = await sms_reach(rig.url, body["id"], "delivered")  # from the Event Grid delivery report
        assert [(m["message_id"], m["status"]) for m in rows] == [(sms.message_id, "delivered")]
        assert sms.reports == [200]
