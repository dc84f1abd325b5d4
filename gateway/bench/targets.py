"""What the load is pointed at: the gateway (calls placed through the emulated ACS, as in production) or the bare
relay (media sockets opened straight away, there being no call control to do)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from gateway.emulators.acs import AcsEmulator, EmulatedCall, MediaConnectError, MediaLegSpec
from gateway.emulators.acs.media import media_headers

from .loadgen import Leg, MediaLoad
from .wsclient import HandshakeError

logger = logging.getLogger(__name__)

CALL_SETUP_TIMEOUT_S = 30.0


class Target(Protocol):
    name: str

    async def open_call(self) -> bool:
        """Place one call; ``True`` once its media flows both ways."""
        ...

    async def close_all(self) -> None: ...


async def hang_up_all(calls: list[Any]) -> None:
    """The caller hangs up every call (at most 50 at a time), whatever state each is in; ``calls`` is emptied."""
    limit = asyncio.Semaphore(50)

    async def hang_up(call: Any) -> None:
        async with limit:
            with contextlib.suppress(Exception):
                await call.hang_up(timeout_s=15.0)

    await asyncio.gather(*(hang_up(c) for c in calls))
    calls.clear()


class BenchMediaLeg:
    """The emulated call's media leg, served by the bench's lean ``MediaLoad`` instead of ``AcsMediaClient``."""

    def __init__(self, load: MediaLoad, spec: MediaLegSpec) -> None:
        config = spec.config
        if config.rate != 24_000:
            raise ValueError("the benchmark streams 24 kHz (markers ride on base64 passthrough)")
        self.load = load
        self.url = spec.url or config.transport_url
        self.headers = media_headers(spec.identity, spec.token)
        self.participant = spec.identity.participant_raw_id
        self.open_timeout_s = spec.open_timeout_s
        self.closed = asyncio.Event()
        self.leg: Leg | None = None

    @property
    def connected(self) -> bool:
        return self.leg is not None and not self.leg.closed.is_set()

    async def start(self) -> None:
        try:
            self.leg = await self.load.open(self.url, self.headers, self.participant, self.open_timeout_s)
        except HandshakeError as exc:
            self.closed.set()
            raise MediaConnectError(str(exc), exc.status or None) from exc
        except (OSError, TimeoutError) as exc:
            self.closed.set()
            raise MediaConnectError(f"media socket failed: {exc!r}") from exc
        self.closed = self.leg.closed

    async def stop(self, code: int = 1000, reason: str = "") -> None:
        if self.leg is not None:
            self.load.stop_leg(self.leg)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.leg.closed.wait(), 3.0)


class GatewayTarget:
    """Calls rung through Event Grid and set up by the gateway through the ACS SDK against the emulated ACS."""

    name = "gateway"

    def __init__(self, acs: AcsEmulator, incoming_url: str) -> None:
        self.acs = acs
        self.incoming_url = incoming_url
        self.calls: list[EmulatedCall] = []

    async def open_call(self) -> bool:
        n = len(self.calls)
        try:
            call = await self.acs.incoming_call(
                self.incoming_url, caller=f"+8190{n:08d}", timeout_s=CALL_SETUP_TIMEOUT_S
            )
        except Exception as exc:  # the gateway did not answer the webhook (overloaded, refused, died)
            logger.warning("incoming call %d failed: %s", n, exc)
            return False
        self.calls.append(call)
        if call.incoming_response is None or call.incoming_response.status != 200:
            return False

        def media_up(c: EmulatedCall) -> bool:
            return c.media_error is not None or (c.media is not None and c.media.connected)

        try:
            await call.wait_for(media_up, timeout_s=CALL_SETUP_TIMEOUT_S)
        except TimeoutError:
            logger.warning("call %d: media never started", n)
            return False
        return call.media_error is None

    async def close_all(self) -> None:
        await hang_up_all(self.calls)


class RelayTarget:
    """Media sockets straight to the bare relay."""

    def __init__(self, load: MediaLoad, url: str, name: str = "relay") -> None:
        self.name = name
        self.load = load
        self.url = url
        self.legs: list[Leg] = []

    async def open_call(self) -> bool:
        try:
            self.legs.append(await self.load.open(self.url, {}))
        except (HandshakeError, OSError, TimeoutError) as exc:
            logger.warning("relay leg failed: %s", exc)
            return False
        return True

    async def close_all(self) -> None:
        for leg in self.legs:
            self.load.stop_leg(leg)
        self.legs.clear()
        await asyncio.sleep(0.5)
