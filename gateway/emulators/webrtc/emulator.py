"""``WebRtcEmulator``: configuration, issued keys, recorded calls, fault switches and the app, in one object.

Tests hold one of these: serve it, point the gateway's provider settings at it (``OPENAI_BASE_URL=<url>/v1`` or
``AZURE_OPENAI_ENDPOINT=<url>``), drive a browser, then assert on ``.mints`` and ``.calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.emulators.realtime.records import poll
from gateway.emulators.serving import serve_app

from .config import WebRtcEmulatorConfig
from .ice import use_loopback_candidates
from .keys import KeyBook, MintRecord
from .records import CallRecord

if TYPE_CHECKING:
    from quart import Quart

    from .call import EmulatedCall

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Faults:
    """Switches a test flips: refuse minting, fail or stall the SDP exchange."""

    mint_status: int | None = None
    calls_status: int | None = None
    calls_delay_s: float = 0.0


class WebRtcEmulator:
    """A local stand-in for the browser-facing side of the OpenAI / Azure OpenAI Realtime API.

    Keyword arguments override fields of ``config``: ``WebRtcEmulator(api_keys={"k"}, script=Script(...))``.
    """

    def __init__(
        self, config: WebRtcEmulatorConfig | None = None, *, api_keys: Iterable[str] | None = None, **overrides: Any
    ) -> None:
        config = config or WebRtcEmulatorConfig()
        if api_keys is not None:
            overrides["api_keys"] = frozenset(api_keys)
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        if self.config.loopback_ice:
            use_loopback_candidates()
        self.keys = KeyBook()
        self.calls: list[CallRecord] = []
        self.live: dict[str, EmulatedCall] = {}
        self.faults = Faults()
        self.closing = False
        self._app: Quart | None = None

    @property
    def app(self) -> Quart:
        if self._app is None:
            from .app import create_webrtc_app

            self._app = create_webrtc_app(self)
        return self._app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve on loopback for the duration of the block; yields ``http://host:port``."""
        try:
            async with serve_app(self.app, host, port) as url:
                yield url
        finally:
            await self.close_all()

    @property
    def mints(self) -> list[MintRecord]:
        return self.keys.mints

    def add_call(self, call: EmulatedCall) -> None:
        self.calls.append(call.record)
        self.live[call.record.call_id] = call

    async def hang_up(self, call_id: str) -> bool:
        call = self.live.pop(call_id, None)
        if call is None:
            return False
        call.record.hung_up = True
        await call.close()
        return True

    async def drop(self, call_id: str | None = None) -> bool:
        """End a live call (the latest by default) from the provider's side, as a network or service failure would."""
        if call_id is None:
            if not self.live:
                return False
            call_id = list(self.live)[-1]
        call = self.live.pop(call_id, None)
        if call is None:
            return False
        await call.close()
        return True

    async def close_all(self) -> None:
        """Hang up every live call (the app is stopping); calls still being set up are refused."""
        self.closing = True
        calls, self.live = list(self.live.values()), {}
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)

    async def wait_for_call(self, n: int = 1, timeout: float = 10.0) -> CallRecord:  # noqa: ASYNC109
        """Wait until ``n`` calls have been made in total; returns the ``n``-th (1-based)."""
        await poll(lambda: len(self.calls) >= n, timeout)
        return self.calls[n - 1]

    async def wait_for(self, predicate: Callable[[WebRtcEmulator], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        return await poll(lambda: predicate(self), timeout)
