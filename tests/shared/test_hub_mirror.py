"""Every process's live sessions in every process's hub, over Redis pub/sub: two hubs with their own mirrors stand
for two processes. Events arrive once (never echoed back), the store is written only by the session's owner,
the console can end a session another process carries, and a process that dies leaves no ghost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from gateway.events import HubEvent, SessionEnded, SessionStarted, TranscriptFinal, TurnLatency
from gateway.hub import SessionHub, SessionInfo
from gateway.shared.hub_mirror import LOST, HubMirror, decode_event, encode_event
from gateway.shared.redis_state import RedisState
from tests.hardening.conftest import wait_until


class Process:
    """A hub, its mirror and the tasks it spawned: one gateway process as far as the live view goes."""

    def __init__(self, redis_url: str, heartbeat_s: float) -> None:
        self.stored: list[tuple[str, HubEvent]] = []
        self.hub = SessionHub(lambda sid, event: self.stored.append((sid, event)))
        self.state = RedisState(redis_url)
        self.mirror = HubMirror(self.hub, self.state, heartbeat_s=heartbeat_s)
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        return task

    async def start(self) -> None:
        self.mirror.start(self.spawn)
        await asyncio.wait_for(self.mirror.ready.wait(), 5)

    async def die(self) -> None:
        """Stops without a word (no bye), as a killed process does."""
        for task in self.tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 5)  # a loop that lives on fails
        self.tasks.clear()

    async def stop(self) -> None:
        await self.mirror.stop()
        await self.die()
        await self.state.close()


@contextlib.asynccontextmanager
async def processes(redis_url: str, count: int = 2, heartbeat_s: float = 2.0) -> AsyncIterator[list[Process]]:
    group = [Process(redis_url, heartbeat_s) for _ in range(count)]
    for process in group:
        await process.start()
    try:
        yield group
    finally:
        for process in group:
            await process.stop()


def ids(sessions: list[SessionInfo]) -> set[str]:
    return {s.session_id for s in sessions}


def collect(hub: SessionHub) -> Callable[[], list[tuple[str, HubEvent]]]:
    sub = hub.subscribe()
    seen: list[tuple[str, HubEvent]] = []

    def received() -> list[tuple[str, HubEvent]]:
        while not sub.queue.empty():
            seen.append(sub.queue.get_nowait())
        return seen

    return received


def test_every_hub_event_survives_the_wire() -> None:
    events = [
        SessionStarted("web-1", "browser", "support-desk", "198.51.100.1", 1.9e9),
        TranscriptFinal("user", "予約をお願いします", "item-1", at=1.9e9, interrupted=True),
        TurnLatency(412.5),
        SessionEnded("caller_hung_up", ended_at=1.9e9),
    ]
    assert [decode_event(encode_event(e)) for e in events] == events
    assert decode_event({"kind": "from.a.newer.version", "x": 1}) is None


async def test_a_session_on_one_process_is_live_on_the_other(redis_url: str) -> None:
    async with processes(redis_url) as (one, two):
        on_two, on_one = collect(two.hub), collect(one.hub)
        one.hub.open(SessionInfo("web-a", "browser", "support-desk", caller="198.51.100.1"))
        await wait_until(lambda: "web-a" in ids(two.hub.all_sessions()), 5, "web-a listed on the other process")
        assert ids(two.hub.live_sessions()) == set()  # it carries none of them: capacity and drain stay its own
        one.hub.publish("web-a", TranscriptFinal("user", "もしもし"))
        one.hub.publish("web-a", TurnLatency(380.0))
        await wait_until(lambda: two.hub.find("web-a") and two.hub.find("web-a").turns == 1, 5, "the turn mirrored")
        assert [e.text for e in two.hub.history("web-a") if isinstance(e, TranscriptFinal)] == ["もしもし"]
        one.hub.close("web-a", "caller_hung_up")
        await wait_until(lambda: "web-a" not in ids(two.hub.all_sessions()), 5, "web-a gone on the other process")
        kinds = [type(e).__name__ for sid, e in on_two() if sid == "web-a"]
        assert kinds == ["SessionStarted", "TranscriptFinal", "TurnLatency", "SessionEnded"]
        # never echoed back: the owner's subscribers saw each event once, and only the owner stored them
        assert [type(e).__name__ for sid, e in on_one() if sid == "web-a"] == kinds
        assert [type(e).__name__ for _, e in one.stored] == kinds and two.stored == []
        assert two.hub.ended("web-a")  # its token is void on every process


async def test_a_process_that_starts_late_sees_the_sessions_already_live(redis_url: str) -> None:
    async with processes(redis_url, count=1) as (one,):
        one.hub.open(SessionInfo("phone-early", "phone", "support-desk", caller="+81900000000"))
        async with processes(redis_url, count=1) as (late,):
            # the late process says hello and is answered at once, not at the next heartbeat
            await wait_until(lambda: "phone-early" in ids(late.hub.all_sessions()), 1.5, "the snapshot")


async def test_the_console_ends_a_session_another_process_carries(redis_url: str) -> None:
    async with processes(redis_url) as (one, two):
        ended = asyncio.Event()

        async def hang_up() -> None:
            ended.set()
            one.hub.close("phone-x", "ended_by_console")

        one.hub.open(SessionInfo("phone-x", "phone", "support-desk"), end=hang_up)
        await wait_until(lambda: two.hub.find("phone-x"), 5, "phone-x listed on the other process")
        assert await two.mirror.end_remote("phone-x")
        await asyncio.wait_for(ended.wait(), 5)
        await wait_until(lambda: two.hub.find("phone-x") is None, 5, "phone-x gone")
        assert not await two.mirror.end_remote("nobody-carries-this")


async def test_a_dead_process_leaves_no_ghost(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with processes(redis_url, heartbeat_s=0.1) as (one, two):
        on_two = collect(two.hub)
        one.hub.open(SessionInfo("web-ghost", "browser", "support-desk"))
        await wait_until(lambda: two.hub.find("web-ghost"), 5, "web-ghost listed")
        await one.die()
        with caplog.at_level(logging.WARNING, logger="gateway.shared.hub_mirror"):
            await wait_until(lambda: two.hub.find("web-ghost") is None, 5, "the ghost to leave the list")
            # and the console pages are told, so they drop it too
            await wait_until(
                lambda: ("web-ghost", LOST) in [(sid, e.outcome) for sid, e in on_two() if isinstance(e, SessionEnded)],
                5,
                "the pages told",
            )
        assert any("web-ghost" in r.getMessage() for r in caplog.records)


async def test_a_drained_process_takes_its_sessions_with_it_at_once(redis_url: str) -> None:
    async with processes(redis_url, count=1) as (stays,):
        leaving = Process(redis_url, heartbeat_s=60)  # no heartbeat would ever expire them in time
        await leaving.start()
        leaving.hub.open(SessionInfo("web-leaving", "browser", "support-desk"))
        await wait_until(lambda: stays.hub.find("web-leaving"), 5, "listed")
        await leaving.stop()
        await wait_until(lambda: stays.hub.find("web-leaving") is None, 2, "gone with its process")


async def test_stopping_always_ends_the_mirrors_tasks(redis_url: str) -> None:
    """A cancellation the Redis client loses (about one stop in a dozen before the fix) must not keep a loop alive:
    shutdown would wait on it forever. Many quick start/stop cycles with sessions and traffic going."""
    for round_ in range(40):
        async with processes(redis_url, count=2, heartbeat_s=0.01) as (one, two):
            one.hub.open(SessionInfo(f"web-{round_}", "browser", "support-desk"))
            two.hub.publish(f"web-{round_}", TurnLatency(1.0))
            first = one.tasks | two.tasks
            await asyncio.sleep(0.01)  # let the heartbeats and the sender be mid-call when they are cancelled
        assert all(task.done() for task in first)  # and the exit above waited at most 5 s for them
