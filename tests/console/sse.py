"""A minimal server-sent-events reader over aiohttp, for asserting what the console feed pushes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(slots=True)
class Message:
    event: str
    data: Any


class SseReader:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[Message] = []

    async def next(self, timeout: float = 5.0) -> Message:
        event, data = "message", []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                raise EOFError("the feed closed")
            line = raw.decode().rstrip("\n")
            if not line:
                if data:
                    message = Message(event, json.loads("\n".join(data)))
                    self.seen.append(message)
                    return message
                event = "message"
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)

    async def until(self, predicate: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.next(max(0.01, deadline - loop.time()))
            if predicate(message):
                return message

    def events(self) -> list[dict[str, Any]]:
        """Every hub event received in batches so far, in order."""
        return [e for m in self.seen if m.event == "batch" for e in m.data["events"]]
