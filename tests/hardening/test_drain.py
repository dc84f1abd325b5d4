"""SIGTERM on a real ``voice-gateway serve`` process: readiness turns 503 at once, new calls are refused, a live call
goes on until the caller hangs up (or the drain deadline passes), then the process exits 0.

The gateway runs as a subprocess (the real CLI, signal handlers and Hypercorn); the emulators run in the test
process and the call is placed through the ACS emulator as usual.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.emulators.acs import AcsEmulator, PlayConfig, Silence
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.realtime.records import SessionRecord
from gateway.emulators.stack import OPENAI_KEY, offline_stack
from gateway.store import Store
from tests.conftest import speech
from tests.hardening.conftest import wait_until
from tests.hardening.served import readyz, serve_gateway

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def drain_stack() -> tuple[AcsEmulator, RealtimeEmulator]:
    script = Script(
        steps=[Say(text="はい、承ります。"), Say(text="ドレイン中もお答えします。")],
        user_transcripts=["こんにちは", "もう一つ質問です。"],
    )
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=Pacing(realtime_factor=2.0))
    return AcsEmulator(play=PlayConfig(duration_s=0.4)), realtime


async def answering_session(realtime: RealtimeEmulator, timeout: float = 30) -> SessionRecord:
    """The Realtime session that answered the caller. With several workers the call's callbacks and its media socket
    may reach different workers; the one with the media socket runs the conversation (a second session)."""
    await realtime.wait_for_session(1, timeout=15)
    return await wait_until(
        lambda: next((s for s in realtime.sessions if s.responses and s.responses[0].status == "completed"), None),
        timeout,
        "a session that answered the caller",
    )


async def conversation_outcomes(database: Path) -> list[tuple[str | None, bool]]:
    store = Store(f"sqlite+aiosqlite:///{database}")
    try:
        rows = await store.search_conversations(channel="phone")
        return [(row["outcome"], bool(row["ended_at"])) for row in rows]
    finally:
        await store.close()


# several workers share calls through Redis (serve runs one worker without it): the call's media socket may be
# relayed by the worker that did not answer, and that one drains too
WORKERS = [pytest.param(1, id="1-worker"), pytest.param(2, id="2-workers-redis")]
# SERVER=granian: the same supervisor, peer listeners and drain around Granian's engine
SERVING = [
    pytest.param(1, False, "", id="1-worker"),
    pytest.param(2, True, "", id="2-workers-redis"),
    pytest.param(2, True, "granian", id="2-workers-redis-granian"),
]


@pytest.mark.parametrize(("workers", "shared", "server"), SERVING)
async def test_sigterm_refuses_new_calls_and_lets_the_live_one_finish(
    tmp_path: Path, workers: int, shared: bool, server: str, request: pytest.FixtureRequest
) -> None:
    acs, realtime = drain_stack()
    env = {"REDIS_URL": request.getfixturevalue("redis_url")} if shared else {}
    env |= {"SERVER": server} if server else {}
    async with (
        offline_stack(acs=acs, realtime=realtime) as stack,
        serve_gateway(stack, tmp_path, drain_timeout_s=60, workers=workers, env=env) as gw,
    ):
        incoming = f"{gw.url}/api/incoming-call"
        call = await acs.incoming_call(
            incoming, wav=speech("ja_greeting_reply"), script=[Silence(4000), speech("ja_compact"), Silence(30000)]
        )
        assert call.incoming_response.status == 200
        session = await answering_session(realtime)
        await wait_until(lambda: call.timeline.received, 10, "the first reply at the caller")

        sigterm_at = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        # a fresh connection per probe, so that with several workers every one of them gets asked (a kept-alive
        # connection would ask the same worker each time): the drain has begun everywhere after 10 answers in a row
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            statuses: list[int] = []

            async def draining() -> bool:
                statuses.append(await readyz(http, gw.url))
                return statuses[-10:] == [503] * 10

            while not await draining() and time.monotonic() - sigterm_at < 2.0:  # "at once": within a second or two
                await asyncio.sleep(0.02)
            assert statuses[-10:] == [503] * 10, statuses
        refused = await acs.incoming_call(incoming, wav=speech("ja_greeting_reply"))
        assert refused.incoming_response.status == 503
        assert "answer" not in acs.operations(refused.call_connection_id)

        # the live call goes on while draining: the caller's next turn is heard and answered, audibly
        await session.wait_for(lambda s: len(s.responses) >= 2 and s.responses[1].status == "completed", timeout=20)
        second = session.responses[1]
        assert second.created_at > sigterm_at
        await wait_until(
            lambda: call.timeline.first_received_after(second.created_at), 10, "the reply during the drain"
        )
        assert gw.process.returncode is None

        # the caller hangs up: the process stops long before its 60 s deadline, cleanly
        hung_up_at = time.monotonic()
        await call.hang_up()
        code = await asyncio.wait_for(gw.process.wait(), timeout=20)
        assert code == 0, gw.output()
        assert time.monotonic() - hung_up_at < 15
        assert session.closed
        [(outcome, ended)] = await conversation_outcomes(gw.database)
        assert ended and outcome in ("caller_hung_up", "media_closed")  # ACS closes media just before CallDisconnected


@pytest.mark.parametrize("workers", WORKERS)
async def test_the_drain_deadline_ends_calls_that_do_not_end(tmp_path: Path, workers: int, request: pytest.FixtureRequest) -> None:
    acs, realtime = drain_stack()
    env = {"REDIS_URL": request.getfixturevalue("redis_url")} if workers > 1 else {}
    async with (
        offline_stack(acs=acs, realtime=realtime) as stack,
        serve_gateway(stack, tmp_path, drain_timeout_s=3, workers=workers, env=env) as gw,
    ):
        call = await acs.incoming_call(
            f"{gw.url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(60000)]
        )
        assert call.incoming_response.status == 200
        session = await answering_session(realtime)

        sigterm_at = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(gw.process.wait(), timeout=30)
        took = time.monotonic() - sigterm_at
        assert code == 0, gw.output()
        assert 2.5 < took < 20, took  # waited for the 3 s deadline, then stopped in bounded time
        # the call the deadline cut short was ended properly: provider session closed, caller hung up, record kept
        await session.wait_for(lambda s: s.closed, timeout=5)
        ops = acs.operations(call.call_connection_id)
        assert ops[-1] in ("hangUp", "terminate"), ops
        assert await conversation_outcomes(gw.database) == [("hung_up", True)]  # one call, one owner, one record
        assert len(realtime.sessions) == 1  # the pre-warmed session, and no second one on the other worker


async def test_workers_without_redis_serve_as_one_and_a_call_has_one_session(tmp_path: Path) -> None:
    """Without REDIS_URL, two workers could not share a call: its callbacks and media socket would reach different
    workers, each opening a session and greeting. ``serve --workers 2`` says so and serves with one."""
    acs, realtime = drain_stack()
    async with (
        offline_stack(acs=acs, realtime=realtime) as stack,
        serve_gateway(stack, tmp_path, drain_timeout_s=3, workers=2) as gw,
    ):
        assert "serving with 1 worker instead of 2: without REDIS_URL" in gw.output()
        for _ in range(3):
            call = await acs.incoming_call(f"{gw.url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(500)])
            await wait_until(lambda call=call: call.timeline is not None and call.timeline.received, 10, "the reply at the caller")
            await call.hang_up()
        await wait_until(lambda: all(s.closed for s in realtime.sessions), 10, "every session closed")
        assert len(realtime.sessions) == 3  # one per call: none opened by a second worker
        assert len(acs.requests_for("play")) == 3  # one greeting per call
