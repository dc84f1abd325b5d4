"""Turn-taking on ACS: a real interruption stops playback, cancels and truncates to what was heard; a backchannel
pauses the agent at the ear and it resumes at the sample where it stopped; a turn-based agent is never interrupted and
the caller is heard only once the phone has played the agent's audio out."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from gateway.audio import pcm_ms, resample
from gateway.conversation import REPROMPT
from gateway.emulators.acs import Dtmf, Silence
from gateway.emulators.realtime import Pacing, Say, Script
from gateway.emulators.realtime.input_audio import APPEND
from gateway.events import BackchannelIgnored, BargeIn
from tests.conftest import speech, speech_text
from tests.integration.phone_rig import phone_rig
from tests.integration.splices import splices, window_lags
from tests.integration.test_phone_call import wait_until

# ACS never says what it played: the gateway's clock of the phone's playout and the phone's own differ by how late
# the phone took the reply's first frame and the StopAudio (0-3 samples on a quiet loopback; a few ms when the test
# machine is loaded, as the emulated phone's clock is its event loop). 10 ms, below the 13-20 ms a resume used to
# repeat and far below the 250 ms an interruption's truncate was once allowed.
ACS_CLOCK_SLACK_MS = 10
ACS_CLOCK_SLACK = ACS_CLOCK_SLACK_MS * 24  # samples at 24 kHz
FRAME_S = 0.02  # the caller's frames: whether one reaches the provider is decided frame by frame
TURNS_CORPUS = Path(__file__).parents[1] / "data" / "turns"


def ear_gaps(timeline, after: float | None) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds of silence between consecutive stretches of agent audio at the phone, after ``after``."""
    bps = timeline.playout.bytes_per_s
    played = [(s.start, s.start + s.played_bytes(bps) / bps) for s in timeline.playout.segments if s.played_bytes(bps)]
    return [nxt[0] - end for (_, end), nxt in zip(played, played[1:], strict=False) if after is not None and end > after] or [0.0]


async def test_barge_in_stops_audio_cancels_and_truncates_to_what_was_heard(tmp_path) -> None:
    long_reply = "ご案内をいたします。" * 6
    script = Script(steps=[Say(text=long_reply, duration_ms=8000), Say(text="はい、お待ちします。")], user_transcripts=["こんにちは", "すみません、ちょっと待ってください。"])
    async with phone_rig(tmp_path, script, pacing=Pacing(realtime_factor=1.0)) as rig:
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(2500), speech("ja_interrupt_wait"), Silence(1500)],
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.truncates, timeout=20)
        timeline = call.timeline
        interrupt_start = timeline.speech_start(1)
        stop = await wait_until(lambda: timeline.first_stop_audio_after(interrupt_start), 5)
        assert 0.1 < stop - interrupt_start < 2.0  # paused after 250 ms of voice (measured: voice-gateway bench turns)
        [truncate] = session.truncates
        first_reply = session.responses[0]
        assert truncate.item_id in first_reply.item_ids
        assert session.cancels and session.cancels[0].response_id == first_reply.response_id
        last_stop = timeline.stop_audio_times[-1]  # a pause first, then the interruption: nothing played in between
        heard_ms = pcm_ms(len(timeline.heard_pcm(until=last_stop)), timeline.rate)
        assert truncate.audio_end_ms < 8000 and truncate.audio_end_ms <= truncate.audio_sent_ms
        assert abs(truncate.audio_end_ms - heard_ms) <= ACS_CLOCK_SLACK_MS, (truncate.audio_end_ms, heard_ms)  # the model keeps what was heard
        assert any(isinstance(e, BargeIn) for e in rig.gw.hub.history(rig.gw.hub.live_sessions()[0].session_id))
        # the caller's interruption still gets its answer
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=10)
        # no frame of the interrupted reply reached the phone after StopAudio
        late = [f for f in timeline.received if stop < f.time < session.responses[1].created_at]
        assert late == [], f"{len(late)} frames of the interrupted reply followed StopAudio"
        await call.hang_up()
        # the record keeps what the caller heard of the interrupted reply, not what the model wrote
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        await rig.gw.writer.flush()
        [conversation] = await rig.gw.store.search_conversations(channel="phone")
        said = [t["text"] for t in (await rig.gw.store.conversation(conversation["id"]))["turns"] if t["role"] == "assistant"]
        [cut] = [t for t in said if t.startswith("ご案内")]
        heard_share = truncate.audio_end_ms / 8000
        heard_text = cut.removesuffix("…")
        assert long_reply.startswith(heard_text) and len(heard_text) < len(long_reply), cut
        assert abs(len(heard_text) / len(long_reply) - heard_share) < 0.15, (cut, heard_share)


@pytest.mark.parametrize("backchannel", ["ja_backchannel_hai", "ja_backchannel_un", "ja_backchannel_naruhodo"])
async def test_a_backchannel_neither_interrupts_nor_gets_a_reply(tmp_path, backchannel: str) -> None:
    script = Script(steps=[Say(text="ご案内を続けます。", duration_ms=6000), Say(text="相づちへの返事（出てはいけない）")], user_transcripts=["こんにちは", speech_text(backchannel)])
    async with phone_rig(tmp_path, script, pacing=Pacing(realtime_factor=2.0)) as rig:
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(2500), speech(backchannel), Silence(4000)],
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.user_turns) >= 2, timeout=20)
        session_id = rig.gw.hub.live_sessions()[0].session_id
        await wait_until(lambda: any(isinstance(e, BackchannelIgnored) for e in rig.gw.hub.history(session_id)), 5)
        timeline = call.timeline
        await wait_until(lambda: pcm_ms(len(call.heard_pcm()), timeline.rate) >= 5900, 10)
        await wait_until(lambda: time.monotonic() - timeline.received[-1].time > 0.5, 5)  # the reply has ended
        # the agent paused at the caller's ear and resumed where it paused. ACS never says what the phone played, so
        # the pause is not a StopAudio (which drops an amount nobody can know) but the gateway ceasing to send while
        # only LEAN_LEAD_MS was queued: what the caller heard, end to end, is the reply's audio to the sample
        assert timeline.stop_audio_times == [] and timeline.playout.dropped_bytes() == 0
        assert max(ear_gaps(timeline, after=timeline.speech_start(1))) >= 0.1  # silent at the ear while it paused
        assert len(session.responses) == 1 and session.truncates == [] and session.cancels == []
        assert timeline.rate == 24_000  # passed through untouched: the comparison is byte for byte
        heard = splices(call.heard_pcm(), session.responses[0].audio_sent, tail_padding=960)
        assert heard.unmatched == 0 and heard.heard_to == heard.reply_samples, heard
        assert heard.lost == 0 and heard.repeated == 0, heard
        await call.hang_up()


async def test_a_backchannel_at_16khz_resumes_in_step_with_the_reply(tmp_path) -> None:
    """At 16 kHz the gateway resamples: a pause must also drop the resampler's delay line, or the resume plays the
    audio it still held (past the pause) before the rewound audio."""
    script = Script(steps=[Say(text="ご案内を続けます。", duration_ms=6000), Say(text="相づちへの返事（出てはいけない）")], user_transcripts=["こんにちは", speech_text("ja_backchannel_hai")])
    async with phone_rig(tmp_path, script, pacing=Pacing(realtime_factor=2.0), acs_audio_format="pcm16k") as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(2500), speech("ja_backchannel_hai"), Silence(4000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.user_turns) >= 2, timeout=20)
        timeline = call.timeline
        await wait_until(lambda: pcm_ms(len(call.heard_pcm()), timeline.rate) >= 5900, 10)
        await wait_until(lambda: time.monotonic() - timeline.received[-1].time > 0.5, 5)
        assert timeline.rate == 16_000 and timeline.stop_audio_times == [] and timeline.playout.dropped_bytes() == 0
        assert max(ear_gaps(timeline, after=timeline.speech_start(1))) >= 0.1  # it did pause at the ear
        assert len(session.responses) == 1 and session.truncates == [] and session.cancels == []
        got = np.frombuffer(call.heard_pcm(), "<i2").astype(np.float64)
        expected = np.frombuffer(resample(session.responses[0].audio_sent, 24_000, 16_000), "<i2").astype(np.float64)
        assert abs(len(got) - len(expected)) <= 320  # a padded last frame
        lags = window_lags(got, expected, window=3200, search=400)
        assert len(lags) > 10 and max(abs(lag) for lag in lags) == 0, lags
        await call.hang_up()


async def test_turn_based_the_agent_finishes_and_the_caller_is_heard_after(tmp_path) -> None:
    """The shipped vehicle-dispatch profile is turn-based: speech over the agent neither stops it nor reaches the
    provider; the caller's next words, after the agent's audio has played out, are a turn."""
    script = Script(
        steps=[Say(text="ご案内をいたします。" * 4, duration_ms=5000), Say(text="コンパクトカーですね。")],
        user_transcripts=["こんにちは", "コンパクトカーでお願いします。"],
    )
    async with phone_rig(tmp_path, script, agent="vehicle-dispatch") as rig:
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(2000), speech("ja_interrupt_wait"), Silence(4500), speech("ja_compact"), Silence(3000)],
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=25)
        timeline = call.timeline
        assert timeline.stop_audio_times == [] and session.cancels == [] and session.truncates == []
        # the interruption was never a turn: the provider heard the greeting reply, then the answer after the reply
        assert [t.transcript for t in session.user_turns] == ["こんにちは", "コンパクトカーでお願いします。"]
        first_reply_ms = pcm_ms(len(call.heard_pcm()), timeline.rate)
        assert first_reply_ms >= 4900  # the whole first reply was heard
        # the provider heard nothing of the caller while the phone played the reply (the interruption fell inside
        # it); the caller's audio flowed again only once the phone's playout of the reply had really ended
        reply = [seg for seg in timeline.playout.segments if seg.arrived < session.responses[1].created_at]
        ear_start, ear_end = reply[0].start, max(seg.end(timeline.playout.bytes_per_s) for seg in reply)
        assert timeline.speech_start(1) < ear_end - 1.0  # the caller really spoke over the agent
        appends = [e.at for e in session.events_of(APPEND)]
        resumed = next(t for t in appends if t > ear_start)
        assert resumed >= ear_end - FRAME_S, (resumed - ear_end)
        await call.hang_up()


async def test_turn_based_hash_ends_the_agents_turn(tmp_path) -> None:
    """A caller who keys ``#`` over a long turn-based reply is not stuck behind it: the phone stops at once, the model
    keeps what was heard, and the caller's next words are a turn."""
    long_reply = "ご案内をいたします。" * 8
    script = Script(steps=[Say(text=long_reply, duration_ms=9000), Say(text="承知しました。")], user_transcripts=["こんにちは", "コンパクトカーでお願いします。"])
    async with phone_rig(tmp_path, script, agent="vehicle-dispatch") as rig:
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(2500), Dtmf("#"), Silence(800), speech("ja_compact"), Silence(3000)],
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=25)
        timeline = call.timeline
        assert len(timeline.stop_audio_times) == 1
        [truncate] = session.truncates
        assert truncate.item_id in session.responses[0].item_ids and 0 < truncate.audio_end_ms < 9000
        heard_ms = pcm_ms(len(timeline.heard_pcm(until=timeline.stop_audio_times[0])), timeline.rate)
        assert abs(truncate.audio_end_ms - heard_ms) <= ACS_CLOCK_SLACK_MS, (truncate.audio_end_ms, heard_ms)
        assert [t.transcript for t in session.user_turns] == ["こんにちは", "コンパクトカーでお願いします。"]
        await call.hang_up()


async def test_short_speech_that_is_more_than_a_backchannel_is_a_turn(tmp_path) -> None:
    """Short enough to be a backchannel by length, but its transcript is words (「違います」): the agent stops, the
    model keeps what was heard, and the caller gets an answer."""
    script = Script(steps=[Say(text="ご案内を続けます。", duration_ms=8000), Say(text="失礼しました。")], user_transcripts=["こんにちは", "違います。"])
    async with phone_rig(tmp_path, script) as rig:
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(2500), speech("ja_backchannel_hai"), Silence(5000)],
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=20)
        [truncate] = session.truncates
        assert truncate.item_id in session.responses[0].item_ids and 0 < truncate.audio_end_ms < 8000
        session_id = rig.gw.hub.live_sessions()[0].session_id
        assert not any(isinstance(e, BackchannelIgnored) for e in rig.gw.hub.history(session_id))
        await call.hang_up()


async def test_turn_based_a_silent_caller_is_asked_again(tmp_path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "strict.md").write_text(
        "---\nname: strict\ngreeting: はい、配車センターです。\ntools: []\nturn_taking:\n  mode: turn_based\n"
        "  idle_reprompt_ms: 1500\n---\n# 役割\nテスト用。\n",
        encoding="utf-8",
    )
    script = Script(steps=[Say(text="車両番号をお願いします。", duration_ms=1000), Say(text="車両番号をもう一度お願いします。")], user_transcripts=["こんにちは"])
    async with phone_rig(tmp_path, script, agent="strict", agents_dir=agents) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(8000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 2, timeout=15)
        reprompt = session.responses[1]
        assert reprompt.trigger == "response.create" and REPROMPT in (reprompt.instructions or "")
        # asked again only once the first question had played out and the caller then said nothing
        first_end = session.responses[0].done_at or 0.0
        assert reprompt.created_at - first_end >= 1.5
        await call.hang_up()


async def test_a_pause_inside_the_callers_sentence_is_not_the_end_of_their_turn(tmp_path) -> None:
    """「いいえ、｜違います。」 with a 0.7 s pause: the provider ends the turn in the pause (500 ms of silence) and answers
    「いいえ、」. That answer never sounds over 「違います」: the gateway holds it until the caller has been quiet, withdraws
    it unheard when they go on (the model keeps none of it), and the caller hears one answer, once they finished."""
    script = Script(
        steps=[Say(text="ご用件をどうぞ。", duration_ms=1000), Say(text="前半への答え（聞こえてはいけない）", duration_ms=3000), Say(text="失礼しました。", duration_ms=1500)],
        user_transcripts=["こんにちは", "いいえ、", "違います。"],
    )
    async with phone_rig(tmp_path, script, pacing=Pacing(realtime_factor=1.0)) as rig:
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(3000), TURNS_CORPUS / "interruption_chigaimasu_mei_low.wav", Silence(4000)],
        )
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: len(s.responses) >= 3 and s.responses[2].done_at is not None, timeout=20)
        assert [t.transcript for t in session.user_turns] == ["こんにちは", "いいえ、", "違います。"]  # it did end the turn early
        first_half, whole = session.responses[1], session.responses[2]
        assert first_half.status == "cancelled" and first_half.item_ids
        truncated = {t.item_id: t.audio_end_ms for t in session.truncates}
        assert all(truncated.get(item) == 0 for item in first_half.item_ids), truncated  # the model keeps none of it
        timeline = call.timeline
        began, ended = timeline.speech_start(1), timeline.speech_end(1)
        assert began is not None and ended is not None
        await wait_until(lambda: timeline.first_received_after(ended) is not None, 10)
        heard = [f for f in timeline.received if f.time > began]
        assert heard[0].time >= ended + 0.9, heard[0].time - ended  # after the caller's 1 s of quiet, not in the pause
        await wait_until(lambda: len(b"".join(f.pcm for f in timeline.received if f.time > began)) >= 24_000, 10)
        heard_pcm = b"".join(f.pcm for f in timeline.received if f.time > began)
        assert heard_pcm[:24_000] == whole.audio_sent[:24_000]  # what sounded is the answer to the whole sentence
        await call.hang_up()
