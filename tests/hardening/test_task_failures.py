"""Failures of background tasks never vanish: each is logged with its session id, and the caller is never left in
silence: a greeting that cannot be played gives way to the agent's own greeting, and a call whose AI session dies
gets the apology and a clean hang-up."""

from __future__ import annotations

import logging

from gateway.emulators.acs import Silence
from gateway.emulators.acs.playback import play_texts
from gateway.emulators.realtime import Script
from gateway.logs import session_context
from tests.conftest import speech
from tests.hardening.conftest import wait_until
from tests.integration.phone_rig import errors_of, phone_rig, running_call_tasks, session_logs

APOLOGY_START = "申し訳ございません"


def phone_session(caplog) -> str:
    [session_id] = {r.session_id for r in caplog.records if getattr(r, "session_id", "-").startswith("phone-")}
    return session_id


async def test_a_failing_background_task_is_logged_with_its_session(gateway, caplog) -> None:
    async def broken() -> None:
        raise RuntimeError("the disk is full")

    with session_logs(caplog), session_context("phone-abc"):
        task = gateway.spawn(broken(), "summary-phone-abc")
    await wait_until(lambda: task.done() and not gateway.tasks, 5)
    await wait_until(lambda: errors_of(caplog, "phone-abc"), 5, "the failure logged")
    [line] = errors_of(caplog, "phone-abc")
    assert "summary-phone-abc" in line and "the disk is full" in line


async def test_a_greeting_that_cannot_be_played_gives_way_to_the_agent(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO)
    with session_logs(caplog):
        async with phone_rig(tmp_path, Script.replies("お電話ありがとうございます。")) as rig:
            rig.acs.inject_failure("play", 400, "BadRequest", "The voice name is not valid.")
            call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(3000)])
            await call.wait_for("MediaStreamingStarted", 10)
            session = await rig.realtime.wait_for_session(1)
            # the agent opens instead of the greeting nobody heard, and the caller hears it
            await session.wait_for(lambda s: s.responses and s.responses[0].trigger == "response.create", timeout=10)
            await wait_until(lambda: call.timeline and call.timeline.received, 10, "agent audio at the caller")
            await call.hang_up()
            await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
    assert any("greeting play failed" in m for m in errors_of(caplog, phone_session(caplog)))


async def test_a_call_whose_ai_session_dies_gets_the_apology_and_a_clean_hang_up(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO)
    with session_logs(caplog):
        async with phone_rig(tmp_path, Script.replies("はい。")) as rig:
            call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(20000)])
            await call.wait_for("MediaStreamingStarted", 10)
            session = await rig.realtime.wait_for_session(1)
            await session.wait_for(lambda s: s.session_updates, timeout=10)
            # an event nested deeper than any parser goes: the gateway's reader cannot survive it
            assert await rig.realtime.send_raw("[" * 100_000)
            await call.wait_for("CallDisconnected", 15)
            plays = [play_texts(r.body)[0] for r in rig.acs.requests_for("play")]
            assert APOLOGY_START in plays[-1]
            await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
            await rig.gw.writer.flush()
            [conversation] = await rig.gw.store.search_conversations(channel="phone")
            assert conversation["outcome"] == "provider_lost"
            await session.wait_for(lambda s: s.closed, timeout=5)
            await wait_until(lambda: running_call_tasks(rig.gw) == [], 5, "no call task left")
    assert any("realtime session failed" in m for m in errors_of(caplog, phone_session(caplog)))


async def test_an_event_of_the_wrong_shape_is_skipped_and_the_call_goes_on(tmp_path) -> None:
    async with phone_rig(tmp_path, Script.replies("はい。", "承知しました。")) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(2000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", timeout=15)
        assert await rig.realtime.send_raw('{"type":"error","error":"not an object"}')
        call.say(speech("ja_greeting_reply"))
        await session.wait_for(lambda s: len(s.responses) >= 2 and s.responses[1].status == "completed", timeout=15)
        assert rig.gw.hub.live_sessions(), "the call is still up"
        await call.hang_up()
