"""The browser WebRTC sessions this process minted: registered in the hub, kept alive by the page's reports,
closed when the page says so, when it goes silent, or when the console ends them.

The media never passes through the gateway, so the page's heartbeat is the only sign a session is alive; a tab
closed without a goodbye is reaped after ``idle_s``. Ending from the console hangs the provider's call up
(GA, when the page told us the call id) and makes the page's next report fail, which stops it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import openai

from gateway.hub import SessionInfo
from gateway.logs import session_context
from gateway.services import Gateway

from .mint import EphemeralKey
from .sideband import Sideband

logger = logging.getLogger(__name__)

CHANNEL = "webrtc"
REMEMBER_ENDED = 1000


@dataclass(slots=True)
class BrowserSession:
    session_id: str
    agent: str
    last_seen: float
    caller: str = ""
    call_id: str | None = None
    key: EphemeralKey | None = None  # kept here: the page's offer is relayed with it, once
    sideband: Sideband | None = None
    sideband_task: asyncio.Task[object] | None = None


class BrowserSessions:
    def __init__(self, gw: Gateway, idle_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.gw = gw
        self.idle_s = idle_s
        self._clock = clock
        self.live: dict[str, BrowserSession] = {}
        self._ended: OrderedDict[str, str] = OrderedDict()

    def open(self, session_id: str, agent: str, caller: str, key: EphemeralKey | None = None) -> None:
        self.live[session_id] = BrowserSession(session_id, agent, self._clock(), caller, key=key)

        async def end() -> None:
            await self.end_from_console(session_id)

        self.gw.hub.open(SessionInfo(session_id, CHANNEL, agent, caller=caller), end=end)

    def ended(self, session_id: str) -> str | None:
        """How a session of this process ended, if it did."""
        return self._ended.get(session_id)

    def seen(self, session_id: str, call_id: str | None = None) -> None:
        session = self.live.get(session_id)
        if session is not None:
            session.last_seen = self._clock()
            if call_id:
                session.call_id = call_id

    def close(self, session_id: str, outcome: str) -> None:
        session = self.live.pop(session_id, None)
        if session is None and session_id in self._ended:
            return  # already ended (the page's goodbye and the provider's hang-up both tell us)
        if session is not None and session.sideband_task is not None and session.sideband_task is not asyncio.current_task():
            session.sideband_task.cancel()
        self._ended[session_id] = outcome
        while len(self._ended) > REMEMBER_ENDED:
            self._ended.popitem(last=False)
        self.gw.hub.close(session_id, outcome)
        logger.info("webrtc session %s ended: %s", session_id, outcome)

    async def end_from_console(self, session_id: str) -> None:
        session = self.live.get(session_id)
        target = self.gw.realtime
        if session is not None and session.call_id and target is not None and not target.beta:
            try:
                await target.client.post(f"/realtime/calls/{session.call_id}/hangup", body={}, cast_to=object)
            except (openai.APIStatusError, openai.APIConnectionError) as exc:
                logger.warning("could not hang up provider call %s: %s", session.call_id, type(exc).__name__)
        self.close(session_id, "ended_by_operator")

    def reap(self) -> list[str]:
        """Close sessions whose page has not reported for ``idle_s``; returns their ids."""
        now = self._clock()
        stale = [s.session_id for s in self.live.values() if now - s.last_seen > self.idle_s]
        for session_id in stale:
            with session_context(session_id):
                self.close(session_id, "connection_lost")
        return stale

    async def reap_forever(self, interval_s: float = 15.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.reap()
