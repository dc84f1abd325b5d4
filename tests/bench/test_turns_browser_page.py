"""The turns bench's browser page stand-in against a gateway-side socket on loopback: it must answer each ``clear``
with the samples played since its previous flush (as ``web/worklets/pcm-player.js`` does, and as the gateway locates
a paused reply's resume), and must not take a gap between two of the greeting's sentences for the greeting's end."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from gateway.bench.turns_browser import ANSWER_AFTER_S, FRAME_BYTES, RATE, Page
from gateway.emulators.acs.caller_audio import CallerAudio

MS100 = RATE // 10 * 2  # bytes of 100 ms of PCM16


async def text_of(ws: ServerConnection, kind: str) -> dict[str, Any]:
    """The page's next text message of this kind (its microphone frames and other messages pass by)."""
    async with asyncio.timeout(5):
        async for data in ws:
            if isinstance(data, str) and (message := json.loads(data))["type"] == kind:
                return message
    raise AssertionError(f"the page closed before sending {kind}")


async def test_played_counts_the_samples_since_the_previous_flush() -> None:
    reports: list[dict[str, Any]] = []

    async def gateway(ws: ServerConnection) -> None:
        for chunks in (2, 1):  # two sentences before the first clear, one after it
            for _ in range(chunks):
                await ws.send(b"\1\0" * (MS100 // 2))
                await text_of(ws, "drained")  # the page played it all
            await ws.send(json.dumps({"type": "clear"}))
            reports.append(await text_of(ws, "played"))

    async with serve(gateway, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            page = Page(ws, CallerAudio(RATE, FRAME_BYTES))
            tasks = [asyncio.create_task(page.listen()), asyncio.create_task(page.speak())]
            try:
                async with asyncio.timeout(10):
                    while len(reports) < 2:
                        await asyncio.sleep(0.02)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    assert [r["samples"] for r in reports] == [2 * RATE // 10, RATE // 10]  # not 300 ms at the second clear
    assert [r["ms"] for r in reports] == [200, 100]


def test_the_greeting_is_over_only_after_its_whole_text_and_a_quiet_moment() -> None:
    page = Page(None, CallerAudio(RATE, FRAME_BYTES))  # type: ignore[arg-type]  # no socket: the player alone
    page.player.push(b"\0\0" * (RATE // 10), time.monotonic() - 1.0)  # a sentence that ended 0.9 s ago
    assert not page.greeted()  # a gap between sentences: the greeting's text has not all come
    page.assistant_finals.add("greeting")
    assert page.greeted()
    page.player.push(b"\0\0" * (RATE // 10), time.monotonic() - ANSWER_AFTER_S / 2)  # its last sentence, just played
    assert not page.greeted()
