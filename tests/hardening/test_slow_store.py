"""A slow database must not slow what the caller hears: the same call is placed twice on one gateway, once with a
normal store and once with every write taking seconds, and the agent audio's timing is compared between the two
(ratios, not absolute times). The records of the slow call are still complete once the writer catches up."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import pytest

from gateway.emulators.acs import Silence
from gateway.emulators.realtime import Pacing, Say, Script
from tests.conftest import speech
from tests.hardening.conftest import wait_until
from tests.integration.phone_rig import PhoneRig, phone_rig

logger = logging.getLogger(__name__)

SLOW_WRITE_S = 2.0
REPLY = "はい、ご予約ですね。承ります。"
WRITES = ("start_conversation", "add_turn", "add_tool_call", "end_conversation", "set_summary")


@dataclass
class CallTiming:
    first_audio_s: float  # caller stops speaking → first agent audio frame
    gap_p95_s: float  # between agent audio frames of the reply
    reply_span_s: float  # first to last frame of the reply
    first_audio_at: float


async def place_call(rig: PhoneRig) -> tuple[CallTiming, object]:
    call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_reserve_car"), script=[Silence(6000)])
    assert call.incoming_response.status == 200
    session = await rig.realtime.wait_for_session(len(rig.realtime.sessions) + 1, timeout=15)
    await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", timeout=20)
    timeline = call.timeline
    end = await wait_until(lambda: timeline.speech_end(0), 10, "the caller's utterance to end")
    first = await wait_until(lambda: timeline.first_received_after(end), 10, "agent audio")
    expected = len(session.responses[0].audio_sent) // len(timeline.received[0].pcm)
    await wait_until(lambda: len(timeline.received) >= expected, 10, "the whole reply at the caller")
    times = [t for t in timeline.received_times if t >= first]
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    timing = CallTiming(
        first_audio_s=first - end,
        gap_p95_s=gaps[int(0.95 * (len(gaps) - 1))],
        reply_span_s=times[-1] - times[0],
        first_audio_at=first,
    )
    return timing, call


async def test_a_slow_store_leaves_the_audio_alone_and_the_records_complete(tmp_path, monkeypatch) -> None:
    script = Script(steps=[Say(text=REPLY, duration_ms=2000)], user_transcripts=["車を予約したいです。"])
    async with phone_rig(tmp_path, script, pacing=Pacing(realtime_factor=1.0)) as rig:
        normal, call = await place_call(rig)
        await call.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10, "the first call closed")
        await rig.gw.writer.flush(timeout=20)

        written: dict[str, list[tuple[float, tuple]]] = {}
        for name in WRITES:
            original = getattr(rig.gw.store, name)

            async def slow(*args, _original=original, _name=name, **kwargs):
                await asyncio.sleep(SLOW_WRITE_S)
                await _original(*args, **kwargs)
                written.setdefault(_name, []).append((time.monotonic(), args))

            monkeypatch.setattr(rig.gw.store, name, slow)

        slow_timing, call = await place_call(rig)
        # the store really was behind while the caller heard the reply: the caller's own turn was not yet written
        user_turn_written = await wait_until(
            lambda: next((t for t, args in written.get("add_turn", []) if args[1] == "user"), None),
            15,
            "the user turn written",
        )
        assert user_turn_written > slow_timing.first_audio_at
        logger.info("normal %s / slow store %s", normal, slow_timing)
        assert slow_timing.first_audio_s < 2.0 * normal.first_audio_s, (normal, slow_timing)
        assert slow_timing.gap_p95_s < 3.0 * max(normal.gap_p95_s, 0.02), (normal, slow_timing)
        assert slow_timing.reply_span_s < 1.5 * normal.reply_span_s, (normal, slow_timing)

        # hanging up does not wait for the store either: the session is gone before its end is written
        await call.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10, "the slow call closed")
        assert len(written.get("end_conversation", [])) == 0, "closing the session waited for the store"

        # once the writer catches up, the slow call's record is as complete as the normal one's
        await rig.gw.writer.flush(timeout=60)
        assert rig.gw.writer.backlog == 0
        conversations = await rig.gw.store.search_conversations(channel="phone")
        assert len(conversations) == 2
        for conversation in conversations:
            record = await rig.gw.store.conversation(conversation["id"])
            turns = [(t["role"], t["text"]) for t in record["turns"]]
            assert turns[0] == ("assistant", rig.gw.profile().greeting)
            assert ("user", "車を予約したいです。") in turns and ("assistant", REPLY) in turns
            assert record["ended_at"] and record["outcome"] and record["summary"]
        assert {name for name in written} >= {"start_conversation", "add_turn", "end_conversation", "set_summary"}


@pytest.fixture(autouse=True)
def _quiet_sqlalchemy() -> None:
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
