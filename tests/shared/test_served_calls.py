"""Whole phone calls on ``voice-gateway serve --workers 2`` sharing a real Redis, through the ACS and Twilio
emulators (official SDKs on the gateway's side). Each worker may receive any of a call's requests; the one that
answered owns the call and gets them all (forwarded by the others), so every call has exactly one Realtime session,
the pre-warmed one, the greeting is played once and never repeated by the agent, and nothing is left open after the
hang-up, in any worker."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gateway.emulators.acs import AcsEmulator, PlayConfig, Silence
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.stack import OPENAI_KEY, offline_stack
from gateway.emulators.twilio import TwilioEmulator
from gateway.store import Store
from tests.conftest import speech
from tests.hardening.conftest import wait_until
from tests.integration.twilio_rig import ACCOUNT_SID, AUTH_TOKEN
from tests.shared.served import live_anywhere, serve, two_replicas, wait_until_empty

CALLS = 6
FORWARDED = re.compile(r"forwarded to the call's owner|relayed to the call's owner")


def agent() -> RealtimeEmulator:
    script = Script(steps=[Say(text="はい、承ります。")] * CALLS, user_transcripts=["こんにちは"] * CALLS)
    return RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=Pacing(realtime_factor=2.0))


async def outcomes(database: Path) -> list[tuple[str | None, bool]]:
    store = Store(f"sqlite+aiosqlite:///{database}")
    try:
        return [(row["outcome"], bool(row["ended_at"])) for row in await store.search_conversations()]
    finally:
        await store.close()


async def ended_records(database: Path, count: int, timeout: float = 15) -> list[tuple[str | None, bool]]:
    """The records once ``count`` of them are ended (each process's store writer writes a little after the end)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ended = await outcomes(database)
        if (len(ended) == count and all(done for _, done in ended)) or asyncio.get_running_loop().time() > deadline:
            return ended
        await asyncio.sleep(0.1)


async def assert_one_prewarmed_session_per_call(realtime: RealtimeEmulator) -> None:
    await wait_until(
        lambda: all(s.responses and s.responses[0].status == "completed" for s in realtime.sessions), 20, "every reply done"
    )
    # a worker that had not answered a call would open a second session for it (no pre-warm) and greet again
    assert len(realtime.sessions) == CALLS, [s.connected_at for s in realtime.sessions]
    triggers = [[(r.trigger, r.instructions) for r in s.responses] for s in realtime.sessions]
    # one caller turn, one reply, and no opening directive (the agent greeting after the carrier already did)
    assert all(len(session) == 1 and session[0][1] is None for session in triggers), triggers


async def test_acs_calls_on_two_workers_keep_to_the_worker_that_answered(tmp_path: Path, redis_url: str) -> None:
    acs, realtime = AcsEmulator(play=PlayConfig(duration_s=0.4)), agent()
    async with offline_stack(acs=acs, realtime=realtime) as stack, serve(stack, tmp_path / "gw", redis_url, workers=2) as gw:
        calls = await asyncio.gather(*(
            acs.incoming_call(f"{gw.url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(30000)])
            for _ in range(CALLS)
        ))  # fmt: skip
        assert all(call.incoming_response.status == 200 for call in calls)
        for call in calls:  # each caller was answered: the agent's reply came back over the media socket
            await wait_until(lambda call=call: call.timeline is not None and call.timeline.received, 30, "the reply at the caller")
        await assert_one_prewarmed_session_per_call(realtime)
        for call in calls:  # the greeting was played once, by ACS, before streaming started
            operations = acs.operations(call.call_connection_id)
            assert operations.count("play") == 1 and operations.index("play") < operations.index("startMediaStreaming")
        assert len(await live_anywhere(gw.url)) == CALLS

        await asyncio.gather(*(call.hang_up() for call in calls))
        await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "every provider session closed")
        await wait_until_empty(gw.url)
        assert len(realtime.sessions) == CALLS  # nothing opened a session late (a ghost)
        ended = await ended_records(gw.database, CALLS)  # ACS closes the media socket just before CallDisconnected: either label
        assert len(ended) == CALLS and all(done and outcome in ("caller_hung_up", "media_closed") for outcome, done in ended), ended
        log = gw.output()
        assert "Traceback" not in log, log[-4000:]
        print(f"requests forwarded to the answering worker: {len(FORWARDED.findall(log))}")


@pytest.mark.parametrize("audio", ["pcm"])
async def test_twilio_calls_on_two_workers_keep_to_the_worker_that_answered(tmp_path: Path, redis_url: str, audio: str) -> None:
    realtime = agent()
    twilio = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN)
    async with offline_stack(realtime=realtime) as stack, twilio.serve() as twilio_url:
        extra = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": twilio_url, "TWILIO_AUDIO": audio}
        async with serve(stack, tmp_path / "gw", redis_url, workers=2, env=extra) as gw:
            calls = await asyncio.gather(*(
                twilio.incoming_call(
                    f"{gw.url}/api/twilio/voice", script=[speech("ja_greeting_reply", 16), Silence(30000)],
                    status_callback=f"{gw.url}/api/twilio/status",
                    status_callback_events=("initiated", "ringing", "answered", "completed"),
                )
                for _ in range(CALLS)
            ))  # fmt: skip
            for call in calls:
                await call.wait_for(lambda c: c.stream is not None and c.stream.connected, 20)
                await call.wait_for(lambda c: len(c.heard_pcm()) > 0, 30)
            await assert_one_prewarmed_session_per_call(realtime)
            assert all([t.verb for t in call.twiml_log].count("Say") == 1 for call in calls)  # greeted once, by Twilio
            assert len(await live_anywhere(gw.url)) == CALLS

            assert await asyncio.gather(*(call.hang_up() for call in calls)) == ["completed"] * CALLS
            await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "every provider session closed")
            await wait_until_empty(gw.url)
            assert len(realtime.sessions) == CALLS
            assert sorted(await ended_records(gw.database, CALLS)) == [("caller_hung_up", True)] * CALLS
            log = gw.output()
            assert "Traceback" not in log, log[-4000:]
            print(f"requests forwarded to the answering worker: {len(FORWARDED.findall(log))}")


async def test_acs_calls_across_two_replicas_behind_a_proxy_without_affinity(tmp_path: Path, redis_url: str) -> None:
    """Round robin sends a call's callbacks and media socket to both replicas in turn: the one that did not answer
    hands each to the one that did (over its peer listener), so the guarantees are the same as on one host."""
    acs, realtime = AcsEmulator(play=PlayConfig(duration_s=0.4)), agent()
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        async with two_replicas(stack, tmp_path, redis_url) as replicas:
            a, b, proxy, proxy_url, database = replicas.a, replicas.b, replicas.proxy, replicas.url, replicas.database
            calls = await asyncio.gather(*(
                acs.incoming_call(f"{proxy_url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(30000)])
                for _ in range(CALLS)
            ))  # fmt: skip
            assert all(call.incoming_response.status == 200 for call in calls)
            for call in calls:
                await wait_until(lambda call=call: call.timeline is not None and call.timeline.received, 30, "the reply at the caller")
            await assert_one_prewarmed_session_per_call(realtime)
            assert all(acs.operations(call.call_connection_id).count("play") == 1 for call in calls)
            assert len(await live_anywhere(proxy_url)) == CALLS

            await asyncio.gather(*(call.hang_up() for call in calls))
            await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "every provider session closed")
            await wait_until_empty(proxy_url)
            assert len(realtime.sessions) == CALLS
            ended = await ended_records(database, CALLS)
            assert len(ended) == CALLS and all(done for _, done in ended), ended
            forwarded = sum(len(FORWARDED.findall(served.output())) for served in (a, b))
            # every call has ≥ 4 callbacks and a media socket: alternating replicas, about half of them land
            # on the replica that did not answer
            assert forwarded >= CALLS, forwarded
            print(f"requests forwarded to the answering replica: {forwarded}; proxy spread: {proxy.sent}")


async def test_a_call_whose_replica_dies_before_it_connects_is_taken_over_by_the_other(tmp_path: Path, redis_url: str) -> None:
    """The replica that answered is killed while the greeting is being set up; the load balancer sends the call's
    next requests to the other replica, which finds the owner gone, takes the call over from shared state and
    carries it to its end: the caller is answered by the agent, greeted once, and nothing is left open."""
    acs, realtime = AcsEmulator(play=PlayConfig(duration_s=1.5)), agent()
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        async with two_replicas(stack, tmp_path, redis_url) as replicas:
            a, b, proxy, proxy_url, database = replicas.a, replicas.b, replicas.proxy, replicas.url, replicas.database
            call = await acs.incoming_call(
                f"{proxy_url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(30000)]
            )
            assert call.incoming_response.status == 200 and proxy.sent[0] >= 1  # Event Grid, the first request, went to a
            a.process.kill()
            await a.process.wait()
            await wait_until(lambda: call.timeline is not None and call.timeline.received, 30, "the reply at the caller")
            assert acs.operations(call.call_connection_id).count("play") == 1  # greeted once, by the survivor or a
            answering = [s for s in realtime.sessions if s.responses]
            assert len(answering) == 1 and answering[0].responses[0].instructions is None  # no second greeting
            assert "takes the call over" in b.output()

            await call.hang_up()
            await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "every provider session closed")
            await wait_until_empty(proxy_url)
            [(outcome, done)] = await ended_records(database, 1)
            assert done and outcome in ("caller_hung_up", "media_closed"), outcome


async def test_a_call_whose_replica_dies_mid_call_ends_everywhere(tmp_path: Path, redis_url: str) -> None:
    """The replica carrying a live call is killed: its media is lost with it (what the caller pays: the line goes
    silent). The carrier's CallDisconnected reaches the other replica, which closes the record nobody else will
    close, and no process shows the call as live any more."""
    acs, realtime = AcsEmulator(play=PlayConfig(duration_s=0.4)), agent()
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        async with two_replicas(stack, tmp_path, redis_url) as replicas:
            a, b, proxy, proxy_url, database = replicas.a, replicas.b, replicas.proxy, replicas.url, replicas.database
            call = await acs.incoming_call(
                f"{proxy_url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(30000)]
            )
            assert proxy.sent[0] >= 1  # Event Grid, the first request, went to replica a: it answered
            await wait_until(lambda: call.timeline is not None and call.timeline.received, 30, "the reply at the caller")
            await wait_until(lambda: realtime.sessions and realtime.sessions[0].responses, 10, "the reply")
            a.process.kill()
            await a.process.wait()
            await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "the dead replica's session closed")
            await call.hang_up()
            await wait_until_closed(database, 10)
            assert len(realtime.sessions) == 1  # nothing took the ended call over
            assert "owner_lost" in b.output()
            await wait_until_empty(proxy_url)


async def wait_until_closed(database: Path, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (ended := await outcomes(database)) != [("owner_lost", True)]:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the record was not closed: {ended}")
        await asyncio.sleep(0.1)


async def test_a_full_worker_hands_a_new_call_to_one_with_room_and_busy_only_when_all_are_full(
    tmp_path: Path, redis_url: str
) -> None:
    """``MAX_MEDIA_SESSIONS=1`` per worker, 2 workers: whichever worker Event Grid reaches, the second call is
    answered (by the worker with room), the third is turned away as busy, and no call opens a second session."""
    acs, realtime = AcsEmulator(play=PlayConfig(duration_s=0.4)), agent()
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        async with serve(stack, tmp_path / "gw", redis_url, workers=2, env={"MAX_MEDIA_SESSIONS": "1"}) as gw:
            calls = []
            for _ in range(3):
                call = await acs.incoming_call(f"{gw.url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(30000)])
                calls.append(call)
                if call.reject_reason is None:
                    await wait_until(lambda call=call: call.timeline is not None and call.timeline.received, 30, "the reply")
            assert [c.reject_reason for c in calls] == [None, None, "busy"], [c.incoming_response.body for c in calls]
            assert len(realtime.sessions) == 2
            print(f"calls handed to the worker with room: {gw.output().count('the call is handed to')}")
            await asyncio.gather(*(call.hang_up() for call in calls[:2]))
            await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "every provider session closed")


async def test_a_twilio_call_whose_replica_dies_mid_call_ends_everywhere(tmp_path: Path, redis_url: str) -> None:
    """As for ACS: the replica carrying the call is killed; Twilio's final status callback, which names only the
    CallSid, reaches the other replica, which finds the call key its owner recorded and closes the record."""
    realtime = agent()
    twilio = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN)
    async with offline_stack(realtime=realtime) as stack, twilio.serve() as twilio_url:
        extra = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": twilio_url, "TWILIO_AUDIO": "pcm"}
        async with two_replicas(stack, tmp_path, redis_url, env=extra) as replicas:
            a, b, proxy, proxy_url, database = replicas.a, replicas.b, replicas.proxy, replicas.url, replicas.database
            call = await twilio.incoming_call(
                f"{proxy_url}/api/twilio/voice", script=[speech("ja_greeting_reply", 16), Silence(30000)],
                status_callback=f"{proxy_url}/api/twilio/status", status_callback_events=("answered", "completed"),
            )  # fmt: skip
            assert proxy.sent[0] >= 1  # replica a answered (the Voice URL was the first request)
            await call.wait_for(lambda c: len(c.heard_pcm()) > 0, 30)
            a.process.kill()
            await a.process.wait()
            await wait_until(lambda: all(s.closed for s in realtime.sessions), 15, "the dead replica's session closed")
            await call.hang_up()
            await wait_until_closed(database, 10)
            assert len(realtime.sessions) == 1 and "owner_lost" in b.output()
            await wait_until_empty(proxy_url)
