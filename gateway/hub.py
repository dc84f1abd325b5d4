"""The session hub: every live conversation from every channel registers here and publishes its events.

Publishing is synchronous and never waits: events go to the store writer's queue and to each subscriber's bounded
queue; a subscriber that falls behind loses its oldest events (and is told so), never the audio path's time.

With ``REDIS_URL`` the hub mirror (gateway/shared/hub_mirror.py) hands this process's events to the other
processes (``relay``) and theirs to this one's subscribers (``deliver_remote``); ``remote`` then lists their live
sessions, which the console shows beside this process's own (``all_sessions``). Everything else (``live_sessions``,
``get``, ``end``, capacity, drain) stays about this process's own sessions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .events import HubEvent, SessionEnded, SessionStarted, TurnLatency

if TYPE_CHECKING:
    from .shared.remote import RemoteSessions

logger = logging.getLogger(__name__)

HISTORY = 400
REMEMBER_ENDED = 10_000
EndCall = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class SessionInfo:
    session_id: str
    channel: str
    agent: str
    caller: str = ""
    started_at: float = field(default_factory=time.time)
    state: str = "live"
    continued_from: str | None = None
    health: str = "ok"
    turns: int = 0
    last_latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Live:
    info: SessionInfo
    end: EndCall | None
    history: deque[HubEvent]


class Subscription:
    """A subscriber's bounded queue of ``(session_id, event)``; ``dropped`` counts what it missed."""

    def __init__(self, hub: SessionHub, session_id: str | None, maxsize: int) -> None:
        self._hub = hub
        self.session_id = session_id
        self.queue: asyncio.Queue[tuple[str, HubEvent]] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, session_id: str, event: HubEvent) -> None:
        if self.session_id is not None and session_id != self.session_id:
            return
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait((session_id, event))

    def close(self) -> None:
        self._hub._subscribers.discard(self)

    async def __aiter__(self) -> AsyncIterator[tuple[str, HubEvent]]:
        while True:
            yield await self.queue.get()


class SessionHub:
    def __init__(self, sink: Callable[[str, HubEvent], None] | None = None) -> None:
        self._sink = sink
        self._live: dict[str, _Live] = {}
        self._subscribers: set[Subscription] = set()
        self._ended: OrderedDict[str, str] = OrderedDict()  # recently ended sessions: their tokens are void
        self.relay: Callable[[str, HubEvent], None] | None = None  # this process's events to the others
        self.remote: RemoteSessions | None = None  # the other processes' live sessions

    def open(self, info: SessionInfo, end: EndCall | None = None) -> None:
        self._live[info.session_id] = _Live(info, end, deque(maxlen=HISTORY))
        self.publish(
            info.session_id,
            SessionStarted(info.session_id, info.channel, info.agent, info.caller, info.started_at),
        )

    def publish(self, session_id: str, event: HubEvent) -> None:
        live = self._live.get(session_id)
        if live is not None:
            live.history.append(event)
            if isinstance(event, TurnLatency):
                live.info.last_latency_ms = event.ms
                live.info.turns += 1
        if self._sink is not None:
            self._sink(session_id, event)
        if self.relay is not None:
            self.relay(session_id, event)
        for sub in tuple(self._subscribers):
            sub.offer(session_id, event)

    def set_health(self, session_id: str, health: str) -> None:
        live = self._live.get(session_id)
        if live is not None:
            live.info.health = health

    def close(self, session_id: str, outcome: str) -> None:
        live = self._live.pop(session_id, None)
        if live is None:
            return
        live.info.state = "ended"
        self._remember_ended(session_id, outcome)
        # published after removal so a subscriber's live list no longer shows it
        ended = SessionEnded(outcome)
        if self._sink is not None:
            self._sink(session_id, ended)
        if self.relay is not None:
            self.relay(session_id, ended)
        for sub in tuple(self._subscribers):
            sub.offer(session_id, ended)

    def deliver_remote(self, session_id: str, event: HubEvent) -> None:
        """Another process's event: to this process's subscribers only (never the store: its owner writes it)."""
        if isinstance(event, SessionEnded):
            self._remember_ended(session_id, event.outcome)  # its token is void on every process
        for sub in tuple(self._subscribers):
            sub.offer(session_id, event)

    def _remember_ended(self, session_id: str, outcome: str) -> None:
        self._ended[session_id] = outcome
        while len(self._ended) > REMEMBER_ENDED:
            self._ended.popitem(last=False)

    def ended(self, session_id: str) -> bool:
        """True when this process saw the session end (recent sessions only; memory stays bounded)."""
        return session_id in self._ended

    def get(self, session_id: str) -> SessionInfo | None:
        live = self._live.get(session_id)
        return live.info if live else None

    def find(self, session_id: str) -> SessionInfo | None:
        """A live session of any process (``get``: of this one)."""
        info = self.get(session_id)
        if info is None and self.remote is not None:
            info = self.remote.get(session_id)
        return info

    def history(self, session_id: str) -> list[HubEvent]:
        live = self._live.get(session_id)
        if live is None and self.remote is not None:
            return self.remote.history(session_id)
        return list(live.history) if live else []

    def live_sessions(self) -> list[SessionInfo]:
        """This process's live sessions (what it carries: capacity, drain)."""
        return [live.info for live in self._live.values()]

    def all_sessions(self) -> list[SessionInfo]:
        """Every process's live sessions, this one's first (what the console shows)."""
        others = self.remote.sessions() if self.remote is not None else []
        return self.live_sessions() + [info for info in others if info.session_id not in self._live]

    def subscribe(self, session_id: str | None = None, maxsize: int = 2000) -> Subscription:
        sub = Subscription(self, session_id, maxsize)
        self._subscribers.add(sub)
        return sub

    async def end(self, session_id: str) -> bool:
        """Ask a live session's channel to end it (e.g. hang up a phone call); False if it cannot be ended here."""
        live = self._live.get(session_id)
        if live is None or live.end is None:
            return False
        await live.end()
        return True
