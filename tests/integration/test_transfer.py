"""Transfer to a person: the agent says so, the caller hears it, then the carrier hands the call to the profile's
operator (ACS ``transfer_call_to_participant``, Twilio ``<Dial>`` by call update). A failed transfer comes back to
the agent with the reason (ACS) or ends politely (Twilio, whose stream the ``<Dial>`` replaced); the record says
which."""

from __future__ import annotations

from pathlib import Path

from gateway.emulators.acs import Silence
from gateway.emulators.realtime import CallTool, Say, Script
from gateway.events import CallProgress
from tests.conftest import speech
from tests.integration.phone_rig import phone_rig
from tests.integration.test_twilio_webhooks import wait_until
from tests.integration.twilio_rig import twilio_rig

OPERATOR = "+81312345678"
ANNOUNCEMENT = "担当者におつなぎします。少々お待ちください。"
PROFILE = """---
name: desk-with-operator
greeting: お電話ありがとうございます。
greeting_mode: play
operator_number: "03-1234-5678"
tools: [transfer_to_operator]
---
お客様が担当者を希望されたら、その旨を伝えてから transfer_to_operator を使ってください。
"""


def agents_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "desk.md").write_text(PROFILE, encoding="utf-8")
    return folder


def transfer_script(*after: Say) -> Script:
    step = CallTool("transfer_to_operator", {"reason": "担当者を希望"}, preamble=Say(ANNOUNCEMENT))
    return Script(steps=[step, *after], user_transcripts=["担当者と話したいです。"])


async def test_acs_transfer_after_the_announcement_is_heard(tmp_path) -> None:
    settings = {"agents_dir": agents_dir(tmp_path), "agent": "desk-with-operator"}
    async with phone_rig(tmp_path, transfer_script(), acs_options={"ring_delay_s": 0.05}, **settings) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(6000)])
        await call.wait_for("CallTransferAccepted", 20)
        [request] = rig.acs.requests_for("transferToParticipant")
        assert request.body["targetParticipant"]["phoneNumber"] == {"value": OPERATOR}
        session = await rig.realtime.wait_for_session(1)
        announcement = session.responses[0].audio_sent
        # the whole announcement reached the caller before the hand-over was asked for (24 kHz agent audio)
        heard_then = len(call.timeline.heard_pcm(request.time))
        assert heard_then >= len(announcement) * 0.95, (heard_then, len(announcement))
        await call.wait_closed(10)
        assert call.transferred_to == OPERATOR
        await wait_until(lambda: not rig.phone_calls.calls, 10, "the call left the gateway")
        await rig.gw.writer.flush(timeout=5)
        [record] = await rig.gw.store.search_conversations()
        assert record["outcome"] == "transferred", record


async def test_acs_failed_transfer_comes_back_to_the_agent_with_the_reason(tmp_path) -> None:
    settings = {"agents_dir": agents_dir(tmp_path), "agent": "desk-with-operator"}
    script = transfer_script(Say("申し訳ございません、担当者が話し中です。"))
    async with phone_rig(tmp_path, script, acs_options={"ring_delay_s": 0.05}, **settings) as rig:
        rig.acs.set_transfer_outcome(OPERATOR, "busy")
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(8000)])
        await call.wait_for("CallTransferFailed", 20)
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 3, 10)  # the tool's follow-up, then the directive
        directive = next(r.instructions for r in session.responses if r.instructions and "転送ができませんでした" in r.instructions)
        assert "Busy" in directive  # the carrier's reason reaches the agent
        live = next(iter(rig.phone_calls.calls.values()))
        assert not live.ended and live.outcome == "completed"
        assert [e.status for e in rig.gw.hub.history(live.session_id) if isinstance(e, CallProgress)][-1] == "transfer_failed"
        await call.hang_up()
        await wait_until(lambda: not rig.phone_calls.calls, 10, "the call ended")
        await rig.gw.writer.flush(timeout=5)
        record = await rig.gw.store.conversation(live.session_id)
        assert record["outcome"] != "transferred"


async def test_twilio_transfer_dials_the_operator_and_a_failed_dial_is_recorded(tmp_path) -> None:
    settings = {"agents_dir": agents_dir(tmp_path), "agent": "desk-with-operator", "twilio_phone_number": "+815012345678"}
    async with twilio_rig(tmp_path, transfer_script(), twilio_config={"dial_status": "busy"}, **settings) as rig:
        call = await rig.call([speech("ja_greeting_reply", 16), Silence(6000)])
        await call.wait_for(lambda c: c.transfers, 20)
        [transfer] = call.transfers
        assert transfer.targets == (OPERATOR,) and transfer.caller_id == "+815012345678"
        assert await call.ended(15) == "completed"
        await wait_until(lambda: any(e.verb == "Say" and "担当者におつなぎできませんでした" in (e.text or "") for e in call.twiml_log), 10, "the apology")
        await rig.gw.writer.flush(timeout=5)
        [record] = await rig.gw.store.search_conversations()
        assert record["outcome"] == "transfer_failed", record
