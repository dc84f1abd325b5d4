"""Whole Twilio calls: the Twilio emulator dials the gateway (signed webhooks, Media Streams with real-time playout
and marks, REST through the official SDK) and the Realtime emulator is the agent. What the caller heard is checked
against what the provider sent, the truncate against the frames the caller's side played."""

from __future__ import annotations

import aiohttp
import numpy as np
import pytest

from channels.telephony.call import APOLOGY
from gateway.audio import read_wav, resample
from gateway.conversation import REPROMPT
from gateway.emulators.acs import Dtmf, Silence
from gateway.emulators.realtime import CallTool, Pacing, Say, Script
from gateway.emulators.realtime.audio_format import ULAW, encode_output
from gateway.emulators.realtime.input_audio import APPEND
from gateway.emulators.twilio import StatusCallbackDisorder
from gateway.events import BackchannelIgnored, BargeIn, TranscriptFinal
from gateway.hub import SessionInfo
from tests.conftest import speech, speech_text
from tests.integration.phone_rig import running_call_tasks
from tests.integration.splices import splices, window_lags
from tests.integration.test_phone_call import RESERVATION
from tests.integration.test_twilio_webhooks import wait_until
from tests.integration.twilio_rig import twilio_rig

GREETING = "お電話ありがとうございます。レンタカー予約センターです。ご予約のご希望をお話しください。"


def similarity(got: np.ndarray, expected: np.ndarray, window: int = 4000) -> float:
    """Normalised correlation of the loudest ``window`` samples of ``expected`` with ``got`` at their best alignment."""
    energy = np.convolve(expected * expected, np.ones(window), mode="valid")
    start = int(np.argmax(energy))
    expected = expected[start : start + window]
    corr = np.correlate(got, expected, mode="valid")
    offset = int(np.argmax(np.abs(corr)))
    segment = got[offset : offset + len(expected)]
    return float(np.dot(segment, expected) / (np.linalg.norm(segment) * np.linalg.norm(expected)))


def pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def live_call(rig, call_sid: str):
    return next(c for c in rig.line.calls.values() if c.connection_id == call_sid)


async def nothing_left(rig) -> None:
    await wait_until(lambda: not rig.line.calls, 10, "the gateway's call ended")
    await wait_until(lambda: not running_call_tasks(rig.gw), 5, "nothing of the call left running")
    assert all(s.closed for s in rig.realtime.sessions)
    assert not rig.gw.hub.live_sessions()


async def test_a_whole_call_greeting_prewarm_speech_tool_and_the_audio_the_caller_heard(tmp_path) -> None:
    script = Script(
        steps=[CallTool("create_reservation", RESERVATION, then=Say("ご予約番号は{output[reservation_number]}です。"))],
        user_transcripts=[speech_text("ja_reserve_car")],
    )
    async with twilio_rig(tmp_path, script, agent="rent-a-car") as rig:
        call = await rig.call([speech("ja_reserve_car", 16), Silence(6000)])
        session = await rig.realtime.wait_for_session(1)
        await call.wait_for(lambda c: c.stream is not None and c.stream.connected, 10)
        # the greeting is Twilio's <Say>; the Realtime session opened while it played, before the stream connected
        say = call.twiml_log[0]
        assert say.verb == "Say" and say.text == GREETING and say.attributes.get("language") == "ja-JP"
        assert session.connected_at < call.streams[0].connected_at
        # the caller's words reach the provider: its input matches the caller's WAV (through μ-law and 8 kHz)
        await session.wait_for(lambda s: s.function_call_outputs and len(s.responses) >= 2 and s.responses[1].status == "completed", 20)
        wav = read_wav(speech("ja_reserve_car", 16))
        assert similarity(pcm(session.received_audio), pcm(resample(wav.pcm, wav.rate, 24_000))) > 0.9
        assert "reservation_number" in session.function_call_outputs[0].output
        # what the caller heard is the provider's reply (not merely some bytes)
        reply = session.responses[1].audio_sent
        await call.wait_for(lambda c: len(c.heard_pcm()) >= len(reply) // 3 - 320, 10)
        assert similarity(pcm(call.heard_pcm()), pcm(resample(reply, 24_000, 8_000))) > 0.95
        stream = call.stream
        assert stream.playout.marks and all(m.reason == "playback" for m in stream.playout.marks if m.echoed_at)
        session_id = live_call(rig, call.sid).session_id
        assert await call.hang_up() == "completed"
        await nothing_left(rig)
        await rig.gw.writer.flush(timeout=5)
        record = await rig.gw.store.conversation(session_id)
        assert record["ended_at"] and record["outcome"] == "caller_hung_up"
        said = [t["text"] for t in record["turns"] if t["role"] == "assistant"]
        assert said[0] == GREETING and any("ご予約番号は" in t for t in said)


@pytest.mark.parametrize("audio", ["pcm", "pcmu"])
async def test_barge_in_clears_and_truncates_to_the_marks_played(tmp_path, audio: str) -> None:
    long_reply = "ご案内をいたします。" * 6
    script = Script(steps=[Say(text=long_reply, duration_ms=8000), Say(text="はい、お待ちします。")], user_transcripts=["こんにちは", "すみません、ちょっと待ってください。"])
    async with twilio_rig(tmp_path, script, pacing=Pacing(realtime_factor=1.0), twilio_audio=audio) as rig:
        call = await rig.call([speech("ja_greeting_reply", 16), Silence(2500), speech("ja_interrupt_wait", 16), Silence(3000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.truncates, timeout=25)
        await call.wait_for(lambda c: c.clears, 5)
        [truncate] = session.truncates
        assert truncate.item_id in session.responses[0].item_ids
        assert session.cancels and session.cancels[0].response_id == session.responses[0].response_id
        stream = call.stream
        played = [m for m in stream.playout.marks if m.reason == "playback" and m.echoed_at <= call.clears[0].at]
        assert played, "marks were echoed as played before the clear"
        # paused at once (by sending no more), then the interruption (a clear): the model keeps exactly the frames the
        # caller heard
        assert len(call.clears) == 1
        heard_ms = sum(len(f.mulaw) for f in stream.playout.played if f.at <= call.clears[-1].at) / 8  # μ-law: 8 B/ms
        assert truncate.audio_end_ms == heard_ms, (truncate.audio_end_ms, heard_ms)
        assert 0 < truncate.audio_end_ms < 8000
        session_id = live_call(rig, call.sid).session_id
        assert any(isinstance(e, BargeIn) and e.played_ms == heard_ms for e in rig.gw.hub.history(session_id))
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=10)
        assert await call.hang_up() == "completed"
        await nothing_left(rig)
        # the record keeps what the caller heard of the interrupted reply, in proportion to the marks
        await rig.gw.writer.flush()
        said = [t["text"] for t in (await rig.gw.store.conversation(session_id))["turns"] if t["role"] == "assistant"]
        [cut] = [t for t in said if t.startswith("ご案内")]
        heard_text = cut.removesuffix("…")
        assert long_reply.startswith(heard_text) and len(heard_text) < len(long_reply), cut
        assert abs(len(heard_text) / len(long_reply) - heard_ms / 8000) < 0.15, (cut, heard_ms)


@pytest.mark.parametrize("audio", ["pcmu", "pcm"])
async def test_a_backchannel_pauses_and_the_reply_resumes_sample_exact(tmp_path, audio: str) -> None:
    """A backchannel pauses the agent at the ear and gets no reply. The pause is not a clear (a mark echoed as a clear
    lands may be one that played or one the clear returned): the gateway stops sending while only a frame or two is
    buffered, and the reply resumes from the next unsent sample: the caller hears every sample of it once."""
    script = Script(steps=[Say(text="ご案内を続けます。", duration_ms=6000), Say(text="相づちへの返事（出てはいけない）")], user_transcripts=["こんにちは", speech_text("ja_backchannel_hai")])
    async with twilio_rig(tmp_path, script, pacing=Pacing(realtime_factor=2.0), twilio_audio=audio) as rig:
        call = await rig.call([speech("ja_greeting_reply", 16), Silence(2500), speech("ja_backchannel_hai", 16), Silence(5000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.user_turns) >= 2, timeout=20)
        session_id = live_call(rig, call.sid).session_id
        await wait_until(lambda: any(isinstance(e, BackchannelIgnored) for e in rig.gw.hub.history(session_id)), 5)
        await call.wait_for(lambda c: len(c.heard_pcm()) / 16 > 5900, 10)  # the whole reply was heard
        await call.wait_for(lambda c: not c.stream.playout.buffered_ms, 5)
        assert call.clears == []
        onset = call.stream.speech_started[1][1]  # the backchannel began
        starts = [f.at for f in call.stream.playout.played if f.at > onset]
        gaps = [b - a - 0.02 for a, b in zip(starts, starts[1:], strict=False)]
        assert max(gaps) >= 0.1  # the reply went on after it, with a silence at the ear while it paused
        assert len(session.responses) == 1 and session.truncates == [] and session.cancels == []
        reply = session.responses[0].audio_sent
        if audio == "pcmu":  # the provider's μ-law reaches the ear untouched: compared byte for byte
            heard = splices(call.stream.playout.heard_mulaw(), encode_output(reply, ULAW), width=1, tail_padding=160)
            assert heard.unmatched == 0 and heard.heard_to == heard.reply_samples, heard
            assert heard.lost == 0 and heard.repeated == 0, heard
        else:  # resampled by the gateway: as long as the reply, and aligned with it all through (no sample shifted)
            got, expected = pcm(call.heard_pcm()), pcm(resample(reply, 24_000, 8_000))
            assert len(got) == len(expected)
            lags = window_lags(got, expected, window=1600, search=40)
            assert len(lags) > 10 and set(lags) == {0}, lags
        assert await call.hang_up() == "completed"
        await nothing_left(rig)

        await rig.gw.writer.flush()
        record = await rig.gw.store.conversation(session_id)
        assert record["ended_at"] and record["outcome"] == "caller_hung_up"


async def test_a_browser_conversation_continues_by_keyed_code(tmp_path) -> None:
    script = Script(steps=[Say(text="続きからご案内します。")])
    async with twilio_rig(tmp_path, script, agent="rent-a-car") as rig:
        gw = rig.gw
        browser_id = "webrtc-twilio-handoff"
        token = gw.tokens.mint(browser_id, "rent-a-car")
        gw.hub.open(SessionInfo(browser_id, "webrtc", "rent-a-car", "browser"))
        gw.hub.publish(browser_id, TranscriptFinal("user", "東京駅で来週土曜日にコンパクトカーを借りたいです。"))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{rig.url}/api/handoff", json={"session_id": browser_id}, headers={"Authorization": f"Bearer {token}"}) as r:
                code = (await r.json())["code"]
        gw.hub.close(browser_id, "handed_off")
        call = await rig.call([Silence(1500), *(Dtmf(d) for d in code), Silence(4000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: any(r.instructions and "続きです" in r.instructions for r in s.responses), timeout=20)
        restored = " ".join(part.get("text", "") for item in session.created_items for part in item.get("content", []))
        assert "コンパクトカーを借りたい" in restored
        assert [d for d, _ in call.stream.dtmf_sent] == list(code)
        assert await call.hang_up() == "completed"
        await nothing_left(rig)
        await gw.writer.flush()
        [phone] = await gw.store.search_conversations(channel="twilio")
        assert phone["continued_from"] == browser_id


async def test_the_gateway_hangs_up_through_rest_once_the_goodbye_was_heard(tmp_path) -> None:
    script = Script(steps=[Say(text="本日はお電話ありがとうございました。失礼いたします。", duration_ms=2500)], user_transcripts=["ありがとう"])
    async with twilio_rig(tmp_path, script, pacing=Pacing(realtime_factor=4.0)) as rig:
        call = await rig.call([speech("ja_greeting_reply", 16), Silence(8000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", 15)  # all sent, not played
        await call.wait_for(lambda c: c.stream.playout.marks and c.stream.playout.buffered_ms > 100, 5)
        session_id = live_call(rig, call.sid).session_id
        assert await rig.gw.hub.end(session_id)  # the console's "end call"
        assert await call.ended(5) == "completed" and call.ended_by == "api"
        hang_up = next(r for r in rig.twilio.requests if r.method == "POST" and r.params.get("Status") == ["completed"])
        assert hang_up.authenticated and hang_up.call_sid == call.sid
        last = call.stream.playout.marks[-1]
        assert last.reason == "playback" and last.echoed_at <= hang_up.at, "hung up before the goodbye was heard"
        await nothing_left(rig)


async def test_no_provider_the_caller_hears_the_apology_and_the_call_ends(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script()) as rig:
        rig.realtime.refuse_connections(503)
        call = await rig.call([Silence(3000)])
        assert await call.ended(30) == "completed"
        update = next(r for r in rig.twilio.requests if r.method == "POST" and "Twiml" in r.params)
        assert APOLOGY in update.params["Twiml"][0] and "<Hangup" in update.params["Twiml"][0]
        assert any(e.verb == "Say" and e.text == APOLOGY for e in call.twiml_log)
        await nothing_left(rig)
        await rig.gw.writer.flush()
        [phone] = await rig.gw.store.search_conversations(channel="twilio")
        assert phone["outcome"] == "provider_unavailable"


async def test_mulaw_passes_through_to_a_provider_that_speaks_it(tmp_path) -> None:
    script = Script(steps=[Say("はい、承ります。")], user_transcripts=[speech_text("ja_reserve_car")])
    async with twilio_rig(tmp_path, script, twilio_audio="pcmu") as rig:
        call = await rig.call([speech("ja_reserve_car", 16), Silence(5000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", 20)
        assert session.session["audio"]["input"]["format"]["type"] == "audio/pcmu"
        assert session.session["audio"]["output"]["format"]["type"] == "audio/pcmu"
        wav = read_wav(speech("ja_reserve_car", 16))
        assert similarity(pcm(session.received_audio), pcm(resample(wav.pcm, wav.rate, 24_000))) > 0.9
        reply = session.responses[0].audio_sent
        await call.wait_for(lambda c: len(c.heard_pcm()) >= len(reply) // 3 - 320, 10)
        assert similarity(pcm(call.heard_pcm()), pcm(resample(reply, 24_000, 8_000))) > 0.95
        assert await call.hang_up() == "completed"
        await nothing_left(rig)


async def test_disorderly_status_callbacks_end_the_call_once(tmp_path) -> None:
    """Each status callback twice and out of order (as Twilio may): the call ends once, and nothing revives it."""
    disorder = StatusCallbackDisorder(duplicate=True, reorder=True, reorder_window_s=0.2)
    async with twilio_rig(tmp_path, Script(steps=[Say("はい。")]), twilio_config={"status_callbacks": disorder}) as rig:
        call = await rig.call([Silence(1500)])
        await call.wait_for(lambda c: c.stream is not None and c.stream.connected, 10)
        session_id = live_call(rig, call.sid).session_id
        assert await call.hang_up() == "completed"
        def delivered(status: str) -> list:
            return [d for d in call.status_deliveries if d.call_status == status and d.http_status is not None]

        await wait_until(lambda: len(delivered("completed")) == 2 and len(delivered("in-progress")) == 2, 10, "callbacks, twice each")
        assert {d.http_status for d in call.status_deliveries if d.http_status is not None} == {204}
        await nothing_left(rig)
        assert rig.line.sid_ended(call.sid)
        await rig.gw.writer.flush()
        record = await rig.gw.store.conversation(session_id)
        assert record["ended_at"] and record["outcome"] == "caller_hung_up"


async def test_turn_based_speech_over_the_agent_is_not_a_turn_and_hash_ends_the_agents_turn(tmp_path) -> None:
    """vehicle-dispatch is turn-based: the caller's words over the agent never reach the provider and stop nothing;
    ``#`` ends the agent's turn at once (a caller is never stuck behind a long reply), and the next words are a turn."""
    long_reply = "ご案内をいたします。" * 8
    script = Script(steps=[Say(text=long_reply, duration_ms=9000), Say(text="承知しました。")], user_transcripts=["こんにちは", "コンパクトカーでお願いします。"])
    async with twilio_rig(tmp_path, script, agent="vehicle-dispatch") as rig:
        call = await rig.call(
            [speech("ja_greeting_reply", 16), Silence(1500), speech("ja_interrupt_wait", 16), Silence(1000), Dtmf("#"), Silence(800), speech("ja_compact", 16), Silence(3000)]
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=25)
        assert len(call.clears) == 1  # the # only: the caller's speech over the agent stopped nothing
        [truncate] = session.truncates
        assert truncate.item_id in session.responses[0].item_ids and 0 < truncate.audio_end_ms < 9000
        assert [t.transcript for t in session.user_turns] == ["こんにちは", "コンパクトカーでお願いします。"]
        assert await call.hang_up() == "completed"
        await nothing_left(rig)


async def test_turn_based_the_caller_is_heard_once_the_last_mark_came_back_and_a_silent_caller_is_asked_again(tmp_path) -> None:
    """Turn-based on Twilio: speech over the agent stops nothing and never reaches the provider; the caller's audio
    flows again only once Twilio echoed the reply's last mark (it was heard), and silence after that gets a
    re-prompt, so a caller who says nothing is not stuck."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "strict.md").write_text(
        "---\nname: strict\ngreeting: はい、配車センターです。\ntools: []\nturn_taking:\n  mode: turn_based\n"
        "  idle_reprompt_ms: 1500\n---\n# 役割\nテスト用。\n",
        encoding="utf-8",
    )
    script = Script(
        steps=[Say(text="ご案内をいたします。" * 4, duration_ms=5000), Say(text="車両番号をお願いします。")],
        user_transcripts=["こんにちは", "すみません、ちょっと待ってください。"],
    )
    async with twilio_rig(tmp_path, script, agent="strict", agents_dir=agents) as rig:
        call = await rig.call([speech("ja_greeting_reply", 16), Silence(2000), speech("ja_interrupt_wait", 16), Silence(9000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=25)
        assert call.clears == [] and session.cancels == [] and session.truncates == []
        assert [t.transcript for t in session.user_turns] == ["こんにちは"]  # the speech over the agent was no turn
        stream = call.stream
        first = [f for f in stream.playout.played if f.at < session.responses[1].created_at]
        assert len(first) * 20 >= 5000  # the whole reply played
        last_mark = max(m.echoed_at for m in stream.playout.marks if m.echoed_at and m.echoed_at < session.responses[1].created_at)
        assert not [m for m in stream.playout.marks if m.reason == "clear"]
        appends = [e.at for e in session.events_of(APPEND)]
        assert not [t for t in appends if first[0].at < t < last_mark], "caller audio reached the provider while the reply played"
        assert any(t > last_mark for t in appends)  # and flowed again once the last mark came back
        reprompt = session.responses[1]
        assert reprompt.trigger == "response.create" and REPROMPT in (reprompt.instructions or "")
        assert reprompt.created_at - last_mark >= 1.5
        assert await call.hang_up() == "completed"
        await nothing_left(rig)
