"""The provider socket of a Realtime session: opened through the openai SDK, used as raw text both ways.

The SDK has two connection classes: the GA one (``client.realtime``) offers ``send_raw``; the beta one (Azure's
preview api-versions, ``client.beta.realtime``) offers only a typed ``send`` that re-validates every event, far
too slow for 50 audio appends a second, and no ``send_raw`` at all. ``ProviderSocket`` gives the engine one
interface over both, so the engine never has to know which dialect's class it holds.

The socket never negotiates permessage-deflate, whatever the provider offers: base64 audio does not compress, and
deflating every delta took more CPU than the rest of the relay together (43 % of a loaded gateway's CPU).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .providers import RealtimeTarget

# websockets' connect() options for every provider socket (the SDK passes them through): no compression offered
CONNECTION_OPTIONS: dict[str, Any] = {"compression": None}


class ProviderSocket:
    """One open provider WebSocket: ``send_raw`` a JSON string, ``recv_bytes`` the next event, ``close``."""

    __slots__ = ("_conn", "send_raw")

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        send_raw: Callable[[str], Awaitable[None]] | None = getattr(conn, "send_raw", None)
        if send_raw is None:  # the beta connection: write the websocket it wraps directly
            send_raw = conn._connection.send
        self.send_raw = send_raw

    async def recv_bytes(self) -> bytes:
        data: bytes = await self._conn.recv_bytes()
        return data

    async def close(self) -> None:
        await self._conn.close()


async def open_provider_socket(target: RealtimeTarget) -> ProviderSocket:
    """Dial the target's Realtime endpoint in its dialect (GA, or beta for Azure preview api-versions)."""
    realtime = target.client.beta.realtime if target.beta else target.client.realtime
    manager = realtime.connect(model=target.model, websocket_connection_options=CONNECTION_OPTIONS)  # type: ignore[arg-type]
    return ProviderSocket(await manager.enter())
