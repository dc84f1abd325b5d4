"""Outbound calls on ACS: ``POST /api/calls`` → Call Automation ``create_call`` (official SDK, HMAC-checked by the
emulator) from ACS_PHONE_NUMBER → the scripted callee answers, is busy or does not answer → the same greeting,
pre-warm and media bridge as an answered call; progress and outcome in the record."""

from __future__ import annotations

import pytest

from gateway.emulators.acs import Silence
from gateway.emulators.acs.playback import play_texts
from gateway.emulators.realtime import Script
from tests.conftest import speech
from tests.integration.outbound_rig import CALLER_ID, OUTBOUND_SETTINGS, post_call, record_reaches
from tests.integration.phone_rig import phone_rig

PROSPECT = "+819012345678"


async def test_an_answered_acs_call_greets_then_bridges_the_agent(tmp_path) -> None:
    async with phone_rig(tmp_path, Script(steps=[]), acs_options={"ring_delay_s": 0.05}, **OUTBOUND_SETTINGS) as rig:
        rig.acs.set_outbound_outcome(PROSPECT, "answer", [speech("ja_greeting_reply", 16), Silence(2000)])
        status, body = await post_call(rig.url, {"to": "090-1234-5678", "carrier": "acs", "variables": {"name": "佐藤"}})
        assert status == 202, body
        call = await rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5)
        [create] = rig.acs.requests_for("create")
        assert create.status == 201
        assert create.body["sourceCallerIdNumber"] == {"value": CALLER_ID}
        assert create.body["targets"][0]["phoneNumber"] == {"value": PROSPECT}
        assert create.body["mediaStreamingOptions"]["enableBidirectional"] is True
        await call.wait_for("CallConnected", 5)
        await call.wait_for(lambda c: c.media is not None and c.media.connected, 10)
        session = await rig.realtime.wait_for_session(1)
        assert '"name": "佐藤"' in session.instructions
        operations = rig.acs.operations(call.call_connection_id)
        assert operations.index("play") < operations.index("startMediaStreaming")  # the greeting first, as inbound
        record = await record_reaches(rig.url, body["id"], "in-progress")
        assert record["carrier"] == "acs" and record["carrier_call_id"] == call.call_connection_id
        await call.hang_up()
        await record_reaches(rig.url, body["id"], "caller_hung_up", "media_closed")  # ACS closes the media first


@pytest.mark.parametrize(("outcome", "recorded"), [("busy", "busy"), ("no-answer", "no_answer"), ("failed", "failed")])
async def test_an_acs_callee_who_does_not_answer_ends_in_the_record(tmp_path, outcome: str, recorded: str) -> None:
    options = {"ring_delay_s": 0.05, "no_answer_timeout_s": 0.3}
    async with phone_rig(tmp_path, Script(steps=[]), acs_options=options, **OUTBOUND_SETTINGS) as rig:
        rig.acs.set_outbound_outcome(PROSPECT, outcome)
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": "acs"})
        assert status == 202
        record = await record_reaches(rig.url, body["id"], recorded)
        assert "CreateCallFailed" not in record["detail"] and record["detail"]  # the carrier's reason, in words
        assert not rig.phone_calls.calls
        assert rig.acs.operations() == ["create"]  # nothing after the failed create: no play, no streaming


async def test_a_refused_create_call_is_a_failed_call(tmp_path) -> None:
    async with phone_rig(tmp_path, Script(steps=[]), **OUTBOUND_SETTINGS) as rig:
        rig.acs.inject_failure("create", 403, "Forbidden", "The caller ID is not a number of this resource.")
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": "acs"})
        assert status == 202
        record = await record_reaches(rig.url, body["id"], "failed")
        assert "caller ID" in record["detail"]


KEY_CHECK_PROFILE = """---
name: key-check
greeting: こんにちは、サンプル社です。
greeting_mode: play
answering_machine:
  check: press_key
  check_timeout_s: 2
  action: {action}
  message: サンプル社です。またお電話いたします。
---
ご案内してください。
"""


@pytest.mark.parametrize(("keys", "action", "recorded"), [("1", "hang_up", None), (None, "hang_up", "machine"), (None, "leave_message", "machine_message_left")])
async def test_acs_asks_for_a_key_before_the_agent_speaks(tmp_path, keys: str | None, action: str, recorded: str | None) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "check.md").write_text(KEY_CHECK_PROFILE.format(action=action), encoding="utf-8")
    settings = {**OUTBOUND_SETTINGS, "agents_dir": folder, "agent": "key-check"}
    async with phone_rig(tmp_path, Script(steps=[]), acs_options={"ring_delay_s": 0.05}, **settings) as rig:
        rig.acs.set_outbound_outcome(PROSPECT, "answer", [Silence(3000)], keys=keys)
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": "acs"})
        assert status == 202
        call = await rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5)
        if keys:
            await call.wait_for("RecognizeCompleted", 10)
            await call.wait_for(lambda c: c.media is not None and c.media.connected, 10)
            operations = rig.acs.operations(call.call_connection_id)
            assert operations.index("recognize") < operations.index("play") < operations.index("startMediaStreaming")
            record = await record_reaches(rig.url, body["id"], "answered")
            assert "a key was pressed" in record["detail"]
            await call.hang_up()
            return
        record = await record_reaches(rig.url, body["id"], recorded, timeout=15)
        operations = rig.acs.operations(call.call_connection_id)
        assert "startMediaStreaming" not in operations  # the agent never spoke to the machine
        plays = [text for r in rig.acs.requests_for("play") for text in play_texts(r.body or {})]  # SSML: its written text
        assert plays == (["サンプル社です。またお電話いたします。"] if action == "leave_message" else [])
        assert [p["status"] for p in record["progress"]][-2:] == ["answered", recorded]
