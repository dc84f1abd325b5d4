"""Other processes' live sessions as this process last heard of them, each process's list expiring unless renewed.

The hub mirror fills it from pub/sub. A process that dies stops renewing (its heartbeat carries a TTL) and its
sessions leave every other process's view when the TTL passes: no ghost outlives its process by more than that.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields

from ..events import HubEvent, TurnLatency
from ..hub import HISTORY, SessionInfo

_INFO_FIELDS = {f.name for f in fields(SessionInfo)}


def info_from(data: dict) -> SessionInfo:
    """A ``SessionInfo`` from another process's JSON; fields this version does not know are left out."""
    return SessionInfo(**{k: v for k, v in data.items() if k in _INFO_FIELDS})


@dataclass(slots=True)
class _Remote:
    info: SessionInfo
    origin: str
    history: deque[HubEvent]


class RemoteSessions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[str, _Remote] = {}
        self._origins: dict[str, float] = {}  # process → when its list expires
        self._peers: dict[str, str] = {}  # process → its peer listener's URL (where it can be handed a call)

    def opened(self, origin: str, info: SessionInfo, ttl_s: float) -> None:
        self._renew(origin, ttl_s)
        self._sessions[info.session_id] = _Remote(info, origin, deque(maxlen=HISTORY))

    def event(self, session_id: str, event: HubEvent) -> None:
        remote = self._sessions.get(session_id)
        if remote is None:
            return
        remote.history.append(event)
        if isinstance(event, TurnLatency):
            remote.info.last_latency_ms = event.ms
            remote.info.turns += 1

    def closed(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    def beat(
        self, origin: str, infos: list[SessionInfo], ttl_s: float, peer: str | None = None
    ) -> tuple[list[SessionInfo], list[str]]:
        """``origin``'s full list of live sessions: renews it; returns the sessions new here and those gone."""
        self._renew(origin, ttl_s)
        if peer:
            self._peers[origin] = peer
        listed = {info.session_id: info for info in infos}
        gone = [sid for sid, r in self._sessions.items() if r.origin == origin and sid not in listed]
        for sid in gone:
            del self._sessions[sid]
        added = []
        for sid, info in listed.items():
            remote = self._sessions.get(sid)
            if remote is None:
                self._sessions[sid] = _Remote(info, origin, deque(maxlen=HISTORY))
                added.append(info)
            else:
                remote.info = info
        return added, gone

    def forget(self, origin: str) -> list[str]:
        """``origin`` said it is stopping: its sessions leave at once."""
        self._origins.pop(origin, None)
        self._peers.pop(origin, None)
        gone = [sid for sid, r in self._sessions.items() if r.origin == origin]
        for sid in gone:
            del self._sessions[sid]
        return gone

    def expire(self) -> list[str]:
        """Drops the sessions of processes that stopped renewing; their ids."""
        now = self._clock()
        gone: list[str] = []
        for origin in [o for o, until in self._origins.items() if until <= now]:
            gone += self.forget(origin)
        return gone

    def _renew(self, origin: str, ttl_s: float) -> None:
        self._origins[origin] = self._clock() + ttl_s

    def _alive(self, remote: _Remote) -> bool:
        return self._origins.get(remote.origin, 0.0) > self._clock()

    def sessions(self) -> list[SessionInfo]:
        return [r.info for r in self._sessions.values() if self._alive(r)]

    def get(self, session_id: str) -> SessionInfo | None:
        remote = self._sessions.get(session_id)
        return remote.info if remote is not None and self._alive(remote) else None

    def owner(self, session_id: str) -> str | None:
        remote = self._sessions.get(session_id)
        return remote.origin if remote is not None and self._alive(remote) else None

    def least_loaded_peer(self, channels: tuple[str, ...], limit: int) -> str | None:
        """The peer URL of the live process carrying the fewest sessions on ``channels``, if under ``limit``."""
        now = self._clock()
        load = {origin: 0 for origin, until in self._origins.items() if until > now and origin in self._peers}
        for remote in self._sessions.values():
            if remote.origin in load and remote.info.channel in channels:
                load[remote.origin] += 1
        if not load:
            return None
        origin = min(load, key=load.__getitem__)
        return self._peers[origin] if load[origin] < limit else None

    def history(self, session_id: str) -> list[HubEvent]:
        remote = self._sessions.get(session_id)
        return list(remote.history) if remote is not None else []
