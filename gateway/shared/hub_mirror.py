"""Every process's hub in every process's console: hub events over the shared state's pub/sub.

Each process relays its own hub's events (batched: one message per loop turn, never waiting on the audio path) and
feeds the other processes' events to its subscribers; its own messages come back from Redis and are dropped by
origin. Every ``HEARTBEAT_S`` each process also publishes its full list of live sessions with a TTL: that renews
them elsewhere, repairs anything pub/sub lost (it stores nothing), and lets a dead process's sessions expire instead
of haunting the console. A process that starts says hello and everyone answers with a heartbeat, so its view is
complete at once. The console may end a session another process carries: the request goes to that process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, get_args

from ..events import HubEvent, SessionEnded, SessionStarted
from ..hub import SessionHub, SessionInfo
from ..logs import session_context
from .base import SharedState
from .remote import RemoteSessions, info_from

logger = logging.getLogger(__name__)

CHANNEL = "hub"
HEARTBEAT_S = 2.0
TTL_BEATS = 3  # a process's sessions outlive its last heartbeat by this many beats
OUTBOX = 10_000  # events waiting to be relayed; past it the oldest go (the next heartbeat repairs the lists)
LOST = "lost: the process carrying it stopped answering"

_EVENT_TYPES: dict[str, type] = {
    f.default: cls
    for cls in get_args(HubEvent)
    for f in dataclasses.fields(cls)
    if f.name == "kind"  # type: ignore[misc]
}
Spawn = Callable[[Coroutine[Any, Any, Any], str], Any]


def encode_event(event: HubEvent) -> dict[str, Any]:
    return dataclasses.asdict(event)


def decode_event(data: dict[str, Any]) -> HubEvent | None:
    """A hub event from another process's JSON; None for a kind this version does not know."""
    cls = _EVENT_TYPES.get(data.get("kind", ""))
    if cls is None:
        return None
    return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.init and f.name in data})


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class HubMirror:
    def __init__(
        self, hub: SessionHub, state: SharedState, heartbeat_s: float = HEARTBEAT_S, peer_url: str | None = None
    ) -> None:
        """``peer_url``: where other processes hand this one a call (its heartbeats say it, for spreading calls)."""
        self.hub = hub
        self.state = state
        self.peer_url = peer_url
        self.origin = process_id()
        self.heartbeat_s = heartbeat_s
        self.remote = RemoteSessions()
        self.ready = asyncio.Event()  # subscribed: from now on other processes' events arrive
        self._outbox: deque[tuple[str, HubEvent, SessionInfo | None]] = deque(maxlen=OUTBOX)
        self._pending = asyncio.Event()
        self._spawn: Spawn | None = None
        self._bad_messages = 0

    @property
    def ttl_s(self) -> float:
        return self.heartbeat_s * TTL_BEATS

    def start(self, spawn: Spawn) -> None:
        self.hub.remote = self.remote
        self.hub.relay = self._relay
        self._spawn = spawn
        spawn(self._receive(), "hub-mirror-receive")
        spawn(self._send(), "hub-mirror-send")
        spawn(self._heartbeats(), "hub-mirror-heartbeat")

    async def stop(self) -> None:
        """Tell the others this process's sessions are gone (a drained process), rather than let them expire."""
        await self.state.publish(CHANNEL, self._message("bye"))

    # --- this process → the others --------------------------------------------------------------------------------
    def _relay(self, session_id: str, event: HubEvent) -> None:
        """On the audio path: only queues (the sender encodes); the oldest go first when Redis cannot keep up."""
        info = self.hub.get(session_id) if isinstance(event, SessionStarted) else None
        self._outbox.append((session_id, event, info))
        self._pending.set()

    async def _send(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            queued = list(self._outbox)
            self._outbox.clear()
            items = [_item(session_id, event, info) for session_id, event, info in queued]
            if items:
                await self.state.publish(CHANNEL, self._message("batch", items=items))

    async def _heartbeats(self) -> None:
        await self.ready.wait()
        await self.state.publish(CHANNEL, self._message("hello"))
        while True:
            await self._beat()
            await asyncio.sleep(self.heartbeat_s)
            for session_id in self.remote.expire():
                with session_context(session_id):
                    logger.warning("session %s left the console view: %s", session_id, LOST)
                self.hub.deliver_remote(session_id, SessionEnded(LOST))

    async def _beat(self) -> None:
        sessions = [info.as_dict() for info in self.hub.live_sessions()]
        await self.state.publish(CHANNEL, self._message("beat", sessions=sessions, ttl=self.ttl_s, peer=self.peer_url))

    def _message(self, kind: str, **fields: Any) -> str:
        return json.dumps({"o": self.origin, "k": kind, **fields}, ensure_ascii=False, separators=(",", ":"))

    async def end_remote(self, session_id: str) -> bool:
        """Asks the process carrying ``session_id`` to end it; False when no other process carries it."""
        owner = self.remote.owner(session_id)
        if owner is None:
            return False
        await self.state.publish(CHANNEL, self._message("end", s=session_id, to=owner))
        return True

    # --- the others → this process --------------------------------------------------------------------------------
    async def _receive(self) -> None:
        messages = await self.state.subscribe(CHANNEL)
        self.ready.set()
        async for raw in messages:
            try:
                message = json.loads(raw)
                if message["o"] != self.origin:
                    await self._apply(message)
            except (ValueError, KeyError, TypeError) as exc:
                self._bad_messages += 1
                if self._bad_messages == 1:  # one line, not one per message of a misbehaving peer
                    logger.warning(
                        "hub mirror: ignoring a malformed message on the shared channel (%s)", type(exc).__name__
                    )

    async def _apply(self, message: dict[str, Any]) -> None:
        origin, kind = message["o"], message["k"]
        if kind == "batch":
            for item in message["items"]:
                self._apply_item(origin, item)
        elif kind == "beat":
            infos = [info_from(d) for d in message["sessions"]]
            added, gone = self.remote.beat(origin, infos, float(message["ttl"]), message.get("peer"))
            for info in added:
                self.hub.deliver_remote(info.session_id, _started(info))
            for session_id in gone:
                self.hub.deliver_remote(session_id, SessionEnded("ended"))
        elif kind == "hello":
            await self._beat()
        elif kind == "bye":
            for session_id in self.remote.forget(origin):
                self.hub.deliver_remote(session_id, SessionEnded("ended: its process stopped"))
        elif kind == "end" and message["to"] == self.origin and self._spawn is not None:
            with session_context(message["s"]):
                logger.info("console on another process ends session %s", message["s"])
                self._spawn(self.hub.end(message["s"]), "hub-mirror-end")

    def _apply_item(self, origin: str, item: list[Any]) -> None:
        if item[0] == "open" and item[1] is not None:
            info = info_from(item[1])
            self.remote.opened(origin, info, self.ttl_s)
            self.hub.deliver_remote(info.session_id, _started(info))
        elif item[0] == "event":
            session_id, event = item[1], decode_event(item[2])
            if event is None:
                return
            if isinstance(event, SessionEnded):
                self.remote.closed(session_id)
            else:
                self.remote.event(session_id, event)
            self.hub.deliver_remote(session_id, event)


def _item(session_id: str, event: HubEvent, info: SessionInfo | None) -> list[Any]:
    if isinstance(event, SessionStarted):
        return ["open", info.as_dict() if info is not None else None]
    return ["event", session_id, encode_event(event)]


def _started(info: SessionInfo) -> SessionStarted:
    return SessionStarted(info.session_id, info.channel, info.agent, info.caller, info.started_at)
