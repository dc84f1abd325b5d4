"""Turn-taking on a Twilio call: the caller hears the provider's own audio; a barge-in sends ``clear`` and truncates
to what the echoed marks say was played; a backchannel interrupts nothing; tools and DTMF work as on ACS."""

from __future__ import annotations

import asyncio

import numpy as np

from gateway.audio import resample
from gateway.emulators.g711 import mulaw_decode
from gateway.emulators.realtime import CallTool, Pacing, Say, Script
from gateway.events import BackchannelIgnored, BargeIn
from tests.conftest import speech_text
from tests.integration.phone_rig import running_call_tasks
from tests.integration.test_phone_call import RESERVATION
from tests.integration.test_twilio_webhooks import caller_mulaw, connect, disconnect, wait_until
from tests.integration.twilio_rig import StreamClient, call_sid, stream_of, twilio_rig

SILENCE = bytes([0xFF])  # μ-law silence, per 8 kHz sample


async def place_call(rig, n: int) -> tuple[StreamClient, object]:
    sid = call_sid(n)
    _, twiml = await rig.incoming_call(sid)
    url, parameters = stream_of(twiml)
    ws = await connect(rig, url)
    client = StreamClient(ws, f"MZ{n:032x}")
    await client.start(sid, parameters)
    return client, ws


async def hang_up(rig, client: StreamClient, ws) -> None:
    await client.close()
    await disconnect(ws)
    await wait_until(lambda: not rig.line.calls, 5, "the call ended")
    await wait_until(lambda: not running_call_tasks(rig.gw), 5, "nothing of the call left running")
    assert all(s.closed for s in rig.realtime.sessions)


def similarity(heard_mulaw: bytes, sent_pcm24: bytes) -> float:
    """How well what the caller heard matches what the provider sent (best alignment, normalised)."""
    expected = np.frombuffer(resample(sent_pcm24, 24_000, 8_000), dtype="<i2").astype(np.float64)[:4000]
    got = np.frombuffer(mulaw_decode(heard_mulaw), dtype="<i2").astype(np.float64)
    corr = np.correlate(got, expected[:1600], mode="valid")
    offset = int(np.argmax(corr))
    segment = got[offset : offset + len(expected)]
    expected = expected[: len(segment)]
    return float(np.dot(segment, expected) / (np.linalg.norm(segment) * np.linalg.norm(expected)))


async def test_a_tool_call_and_the_reply_the_caller_hears_is_the_providers_audio(tmp_path) -> None:
    script = Script(
        steps=[CallTool("create_reservation", RESERVATION, then=Say("ご予約番号は{output[reservation_number]}です。"))],
        user_transcripts=[speech_text("ja_reserve_car")],
    )
    async with twilio_rig(tmp_path, script, agent="rent-a-car") as rig:
        client, ws = await place_call(rig, 20)
        session = await rig.realtime.wait_for_session(1)
        await client.say(caller_mulaw("ja_reserve_car") + SILENCE * 8000)
        await session.wait_for(lambda s: s.function_call_outputs and len(s.responses) >= 2 and s.responses[1].status == "completed", 15)
        assert "reservation_number" in session.function_call_outputs[0].output
        reply = session.responses[1].audio_sent
        await wait_until(lambda: client.received_bytes >= len(reply) // 6 - 160, 10, "the whole reply at the caller")
        assert similarity(bytes(client.heard), reply) > 0.95
        await hang_up(rig, client, ws)


async def test_barge_in_clears_and_truncates_to_the_marks_played(tmp_path) -> None:
    long_reply = "ご案内をいたします。" * 6
    script = Script(steps=[Say(text=long_reply, duration_ms=8000), Say(text="はい、お待ちします。")], user_transcripts=["こんにちは", "すみません、ちょっと待ってください。"])
    async with twilio_rig(tmp_path, script, pacing=Pacing(realtime_factor=1.0)) as rig:
        client, ws = await place_call(rig, 21)
        session = await rig.realtime.wait_for_session(1)
        caller = [caller_mulaw("ja_greeting_reply"), SILENCE * 20000, caller_mulaw("ja_interrupt_wait"), SILENCE * 12000]
        speaking = asyncio.create_task(client.say(b"".join(caller)))
        await session.wait_for(lambda s: s.truncates, timeout=25)
        await wait_until(lambda: client.clears, 5, "a clear")
        [truncate] = session.truncates
        assert truncate.item_id in session.responses[0].item_ids
        assert session.cancels and session.cancels[0].response_id == session.responses[0].response_id
        _, played_marks = client.clears[0]
        assert played_marks, "marks were echoed while the reply played"
        heard_by_marks = client.mark_positions[played_marks[-1]] // 8  # μ-law: 8 bytes per ms
        assert truncate.audio_end_ms == heard_by_marks, (truncate.audio_end_ms, heard_by_marks)
        assert 0 < truncate.audio_end_ms < 8000
        session_id = rig.line.calls[next(iter(rig.line.calls))].session_id
        assert any(isinstance(e, BargeIn) and e.played_ms == heard_by_marks for e in rig.gw.hub.history(session_id))
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=10)
        await speaking
        await hang_up(rig, client, ws)


async def test_a_backchannel_neither_interrupts_nor_gets_a_reply(tmp_path) -> None:
    script = Script(steps=[Say(text="ご案内を続けます。", duration_ms=6000), Say(text="相づちへの返事（出てはいけない）")], user_transcripts=["こんにちは", speech_text("ja_backchannel_hai")])
    async with twilio_rig(tmp_path, script, pacing=Pacing(realtime_factor=2.0)) as rig:
        client, ws = await place_call(rig, 22)
        session = await rig.realtime.wait_for_session(1)
        await client.say(caller_mulaw("ja_greeting_reply") + SILENCE * 20000 + caller_mulaw("ja_backchannel_hai") + SILENCE * 8000)
        await session.wait_for(lambda s: len(s.user_turns) >= 2, timeout=20)
        session_id = rig.line.calls[next(iter(rig.line.calls))].session_id
        await wait_until(lambda: any(isinstance(e, BackchannelIgnored) for e in rig.gw.hub.history(session_id)), 5)
        await wait_until(lambda: client.received_bytes >= 6000 * 8 - 800, 10, "the whole reply at the caller")
        assert client.clears == []
        assert len(session.responses) == 1 and session.truncates == [] and session.cancels == []
        await hang_up(rig, client, ws)


async def test_keyed_digits_feed_the_handoff_code(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script.replies("コードをご確認ください。")) as rig:
        client, ws = await place_call(rig, 23)
        session = await rig.realtime.wait_for_session(1)
        await client.say(SILENCE * 4000)
        for digit in "000000":
            await client.dtmf(digit)
        await session.wait_for(lambda s: any(r.instructions and "無効" in r.instructions for r in s.responses), timeout=15)
        assert rig.gw.hub.live_sessions()
        await hang_up(rig, client, ws)


async def test_the_gateway_hangs_up_only_once_the_last_words_were_played(tmp_path) -> None:
    """Ending the call (the console's end button) waits, bounded, for the echo of the mark after the last audio."""
    script = Script(steps=[Say(text="本日はお電話ありがとうございました。失礼いたします。", duration_ms=2500)], user_transcripts=["ありがとう"])
    async with twilio_rig(tmp_path, script, pacing=Pacing(realtime_factor=4.0)) as rig:
        client, ws = await place_call(rig, 24)
        session = await rig.realtime.wait_for_session(1)
        await client.say(caller_mulaw("ja_greeting_reply") + SILENCE * 8000)
        await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", 15)  # all sent, not all played
        await wait_until(lambda: client.received_bytes >= 2500 * 8 - 800, 5, "the goodbye queued at the caller")
        session_id = rig.gw.hub.live_sessions()[0].session_id
        loop = asyncio.get_running_loop()
        asked = loop.time()
        assert await rig.gw.hub.end(session_id)
        ended = loop.time()
        last_mark = client.of("mark")[-1]["mark"]["name"]
        assert last_mark in client.echoed, "hung up before the caller heard the goodbye"
        assert ended - asked < 5.5
        assert rig.gw.hub.ended(session_id)
        await hang_up(rig, client, ws)
