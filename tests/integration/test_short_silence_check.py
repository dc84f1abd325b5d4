"""ACS's alternative to pressing a key: the outbound call listens to the callee before the agent speaks. A short
greeting then silence is a person (the agent's greeting follows over the running stream); a greeting that runs on
is an answering machine (the profile's hang-up or message, and the agent never speaks). Through the Call Automation
SDK against the ACS emulator, the callee speaking real recorded Japanese."""

from __future__ import annotations

import pytest

from channels.telephony.silence_check import ShortSilenceCheck
from gateway.audio import read_wav
from gateway.emulators.acs import Silence
from gateway.emulators.acs.playback import play_texts
from gateway.emulators.realtime import Script
from tests.conftest import speech
from tests.integration.outbound_rig import OUTBOUND_SETTINGS, post_call, record_reaches
from tests.integration.phone_rig import phone_rig
from tests.integration.test_twilio_webhooks import wait_until

PROSPECT = "+819012345678"
PROFILE = """---
name: silence-check
greeting: こんにちは、サンプル社です。
greeting_mode: play
answering_machine:
  check: short_silence
  silence_ms: 800
  max_greeting_ms: 3000
  check_timeout_s: 4
  action: {action}
  message: サンプル社です。またお電話いたします。
---
ご案内してください。
"""
PERSON = [speech("ja_greeting_reply", 16), Silence(4000)]  # "こんにちは。" (under a second), then waits
MACHINE = [speech("ja_customer_lookup", 16), speech("ja_station_time", 16), Silence(4000)]  # ten seconds, no real pause


def settings(tmp_path, action: str) -> dict:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "check.md").write_text(PROFILE.format(action=action), encoding="utf-8")
    return {**OUTBOUND_SETTINGS, "agents_dir": folder, "agent": "silence-check"}


async def test_a_short_greeting_then_silence_is_a_person_who_then_hears_the_agent(tmp_path) -> None:
    async with phone_rig(tmp_path, Script(steps=[]), acs_options={"ring_delay_s": 0.05}, **settings(tmp_path, "hang_up")) as rig:
        rig.acs.set_outbound_outcome(PROSPECT, "answer", PERSON, keys=None)
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": "acs"})
        assert status == 202
        call = await rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5)
        record = await record_reaches(rig.url, body["id"], "answered")
        assert "a person (a short greeting" in record["detail"], record
        await wait_until(lambda: rig.acs.requests_for("play"), 10, "the greeting's play")
        operations = rig.acs.operations(call.call_connection_id)
        assert "recognize" not in operations  # no key asked for
        assert operations.index("startMediaStreaming") < operations.index("play")  # heard first, then greeted
        plays = [text for r in rig.acs.requests_for("play") for text in play_texts(r.body or {})]
        assert plays == ["こんにちは、サンプル社です。"]
        await rig.realtime.wait_for_session(1)  # the agent is bridged on the same stream
        await call.hang_up()
        await record_reaches(rig.url, body["id"], "caller_hung_up", "media_closed")


@pytest.mark.parametrize(("action", "recorded"), [("hang_up", "machine"), ("leave_message", "machine_message_left")])
async def test_a_greeting_that_runs_on_is_a_machine(tmp_path, action: str, recorded: str) -> None:
    async with phone_rig(tmp_path, Script(steps=[]), acs_options={"ring_delay_s": 0.05}, **settings(tmp_path, action)) as rig:
        rig.acs.set_outbound_outcome(PROSPECT, "answer", MACHINE, keys=None)
        status, body = await post_call(rig.url, {"to": PROSPECT, "carrier": "acs"})
        assert status == 202
        call = await rig.acs.wait_for_call(lambda c: c.direction == "outbound", 5)
        record = await record_reaches(rig.url, body["id"], recorded, timeout=15)
        assert [p["status"] for p in record["progress"]][-2:] == ["answered", recorded]
        plays = [text for r in rig.acs.requests_for("play") for text in play_texts(r.body or {})]
        assert plays == (["サンプル社です。またお電話いたします。"] if action == "leave_message" else [])  # never the greeting
        assert all(not s.responses for s in rig.realtime.sessions)  # the agent never spoke to the machine
        await call.wait_for(lambda c: c.media is None or not c.media.connected, 10)  # the gateway hung up


@pytest.mark.parametrize(
    ("wavs", "expected"),
    [(["ja_greeting_reply"], "person"), (["ja_backchannel_hai"], "person"), (["ja_customer_lookup"], "machine"), ([], "person")],
)
def test_the_check_decides_on_real_speech(wavs: list[str], expected: str) -> None:
    check = ShortSilenceCheck(16_000, silence_ms=800, max_greeting_ms=3000, timeout_ms=4000)
    pcm = b"".join(read_wav(speech(name, 16)).pcm for name in wavs) + bytes(16_000 * 2 * 5)
    frame = 640  # 20 ms at 16 kHz
    verdicts = [v for i in range(0, len(pcm), frame) if (v := check.feed(pcm[i : i + frame])) is not None]
    assert verdicts and verdicts[0] == expected, check.reason
