"""The console's push feed: a snapshot first, then the hub's events in batches, heartbeats, and a released
subscription when the page goes away. The hub is driven directly with typed events."""

from __future__ import annotations

import asyncio

import aiohttp

from gateway.console.batcher import EventBatch
from gateway.console.feed import FeedConfig
from gateway.events import (
    BargeIn,
    Health,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptDelta,
    TranscriptFinal,
    TurnLatency,
)
from gateway.hub import SessionInfo

from .conftest import AUTH, Served
from .sse import SseReader


async def _wait_for(condition, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_feed_pushes_a_session_from_start_to_end(served: Served) -> None:
    gw = served.gw
    gw.hub.open(SessionInfo("web-before", "webrtc", "support-desk", "browser"))
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{served.url}/api/console/events") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        feed = SseReader(response)
        snapshot = await feed.until(lambda m: m.event == "snapshot")
        assert [s["session_id"] for s in snapshot.data["sessions"]] == ["web-before"]
        assert snapshot.data["agent"] == gw.agent

        sid = "phone-live1"
        end_calls: list[str] = []

        async def end() -> None:
            end_calls.append(sid)

        gw.hub.open(SessionInfo(sid, "phone", "rent-a-car", "+819012345678"), end=end)
        for part in ("来週の", "土曜日に", "借りたいです"):
            gw.hub.publish(sid, TranscriptDelta("user", part, "item-1"))
        gw.hub.publish(sid, TranscriptFinal("user", "来週の土曜日に借りたいです", "item-1"))
        gw.hub.publish(sid, TurnLatency(812.5))
        gw.hub.publish(sid, ToolCallStarted("call-1", "check_availability", '{"location":"shinjuku"}'))
        gw.hub.publish(sid, ToolCallFinished("call-1", "check_availability", '{"location":"shinjuku"}', True, '{"ok":true}', 12.0))
        gw.hub.publish(sid, TranscriptDelta("assistant", "承知", "item-2"))
        gw.hub.publish(sid, BargeIn(640))
        gw.hub.publish(sid, Health("reconnecting", "provider dropped"))
        gw.hub.close(sid, "hung_up")

        await feed.until(lambda m: m.event == "batch" and any(e["kind"] == "session.ended" for e in m.data["events"]))
        mine = [e for e in feed.events() if e["s"] == sid]
        kinds = [e["kind"] for e in mine]
        assert kinds[0] == "session.started" and kinds[-1] == "session.ended"
        assert mine[0]["caller"] == "+819012345678" and mine[0]["channel"] == "phone"
        for kind in ("transcript.final", "latency", "tool.call", "tool.result", "barge_in", "health", "transcript.delta"):
            assert kind in kinds, kind
        final = next(e for e in mine if e["kind"] == "transcript.final")
        assert final["text"] == "来週の土曜日に借りたいです" and final["role"] == "user"
        # the caller's deltas were in one window with their final, so only the final was sent
        assert not any(e["kind"] == "transcript.delta" and e["role"] == "user" for e in mine)
        result = next(e for e in mine if e["kind"] == "tool.result")
        assert result["arguments"] == '{"location":"shinjuku"}' and result["output"] == '{"ok":true}' and result["ok"] is True
        assert next(e for e in mine if e["kind"] == "latency")["ms"] == 812.5
        assert next(e for e in mine if e["kind"] == "barge_in")["played_ms"] == 640
        assert next(e for e in mine if e["kind"] == "session.ended")["outcome"] == "hung_up"
        assert len(served.console.feeds) == 1
    # the page went away: its subscription is released
    await _wait_for(lambda: len(served.console.feeds) == 0 and not gw.hub._subscribers)


async def test_feed_sends_heartbeats_and_agent_changes(served: Served) -> None:
    served.console.feeds.config = FeedConfig(heartbeat_s=0.2)
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{served.url}/api/console/events") as response:
        feed = SseReader(response)
        await feed.until(lambda m: m.event == "snapshot")
        beat = await feed.until(lambda m: m.event == "heartbeat", timeout=2)
        assert beat.data["live"] == 0 and beat.data["agent"] == "support-desk"
        changed = await http.post(f"{served.url}/api/console/agent", json={"agent": "rent-a-car"})
        assert changed.status == 200
        notice = await feed.until(lambda m: m.event == "agent", timeout=2)
        assert notice.data == {"agent": "rent-a-car"}


async def test_a_page_that_falls_behind_gets_a_fresh_snapshot(served: Served) -> None:
    served.console.feeds.config = FeedConfig(queue_size=5, window_s=0.3)
    gw = served.gw
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{served.url}/api/console/events") as response:
        feed = SseReader(response)
        await feed.until(lambda m: m.event == "snapshot")
        gw.hub.open(SessionInfo("web-1", "webrtc", "support-desk"))  # flushed at once: the feed was idle
        await feed.until(lambda m: m.event == "batch")
        for i in range(50):  # inside the window: more than the page's queue holds
            gw.hub.publish("web-1", TranscriptFinal("user", f"line {i}", f"i{i}"))
        resync = await feed.until(lambda m: m.event == "snapshot", timeout=3)
        assert resync.data["resync"] is True and [s["session_id"] for s in resync.data["sessions"]] == ["web-1"]


async def test_the_feed_refuses_new_pages_while_draining(served: Served) -> None:
    served.gw.draining = True
    async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{served.url}/api/console/events") as response:
        assert response.status == 503


def test_batch_merges_deltas_and_lets_finals_replace_them() -> None:
    batch = EventBatch()
    for part in ("a", "b", "c"):
        batch.add("s1", TranscriptDelta("assistant", part, "x"))
    batch.add("s2", TranscriptDelta("assistant", "other", "y"))
    batch.add("s1", TurnLatency(500))
    assert len(batch) == 5
    items = batch.take()
    assert [(i["s"], i["kind"]) for i in items] == [("s1", "transcript.delta"), ("s2", "transcript.delta"), ("s1", "latency")]
    assert items[0]["text"] == "abc" and items[0]["n"] == 3
    for part in ("d", "e"):
        batch.add("s1", TranscriptDelta("user", part, "z"))
    batch.add("s1", TranscriptFinal("user", "de!", "z"))
    items = batch.take()
    assert [(i["kind"], i["text"]) for i in items] == [("transcript.final", "de!")]
    assert batch.take() == [] and len(batch) == 0
