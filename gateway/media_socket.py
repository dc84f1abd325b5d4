"""The carriers' media sockets served without Quart's per-message websocket machinery.

A phone call's media socket carries 50 frames a second each way for the whole call. For every inbound frame
Quart's ``ASGIWebsocketConnection`` runs a receiver task, fires the ``websocket_received`` signal and passes the
frame through an unbounded queue to the handler's task; for every frame sent it yields with ``asyncio.sleep(0)``,
calls ``accept()`` (which builds a werkzeug ``Headers`` each time) and fires ``websocket_sent``: ~17 µs of CPU
for one frame in and one out, against ~5 µs here (``python -m gateway.bench.frame_cost``; issue 16).

``MediaSocketConnection`` is the ASGI handler Quart builds for every websocket (``app.asgi_websocket_class``). For
the media paths (``MEDIA_PATHS``) it keeps everything per connection exactly as Quart does (routing, the blueprint
handler with its authentication, refusals, limits and logging, the close after the handler returns) and changes only
the per-message path: the handler reads ASGI events itself (no receiver task, no queue), sends go straight to the
server, and the signals fire only when something listens to them. Every other websocket is Quart's own.

A peer that goes away ends the handler as it does with Quart: with ``CancelledError`` (Quart cancels the handler's
task when its receiver sees the disconnect; here the read that sees it raises it).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from quart.asgi import ASGIWebsocketConnection
from quart.signals import websocket_received, websocket_sent
from quart.wrappers import Websocket

logger = logging.getLogger(__name__)

MEDIA_PATHS = ("/ws/acs/", "/ws/twilio/")  # the carriers' media sockets (channels/acs, channels/twilio blueprints)


class PeerGone(asyncio.CancelledError):
    """The carrier closed the media socket: ends the handler the way Quart's cancellation of it would."""


class MediaWebsocket(Websocket):
    """Quart's ``Websocket`` with ``send``/``receive`` that skip the per-message ``sleep(0)`` and ``accept()`` once
    the socket is accepted (a media handler awaits every send, so no tight loop needs the extra yield)."""

    _is_accepted = False

    async def accept(self, headers: Any = None, subprotocol: str | None = None) -> None:
        await super().accept(headers, subprotocol)
        self._is_accepted = True

    async def receive(self) -> str | bytes:
        if not self._is_accepted:
            await self.accept()
        return await self._receive()

    async def send(self, data: str | bytes) -> None:
        if not self._is_accepted:
            await self.accept()
        await self._send(data)


class MediaSocketConnection(ASGIWebsocketConnection):
    """Quart's websocket connection, lean per message on the media paths (see the module's docstring)."""

    _gone = False

    async def __call__(self, receive: Any, send: Any) -> None:
        if not self.scope["path"].startswith(MEDIA_PATHS):
            await super().__call__(receive, send)
            return
        websocket = self._create_websocket_from_scope(send)
        websocket.__class__ = MediaWebsocket  # the same object Quart built, with the lean send/receive above
        websocket._receive = partial(self._next_message, receive)
        try:
            await self.handle_websocket(websocket, send)
        except asyncio.CancelledError:
            if not self._gone:
                raise
            # as with Quart: the disconnect ended the handler (a read in another task, such as a ``wait_for``,
            # turns PeerGone into a plain cancellation on the way), and nothing is sent on a closed socket

    async def _next_message(self, receive: Any) -> str | bytes:
        """The next frame from the server, read in the handler's own task."""
        while not self._gone:
            event = await receive()
            kind = event["type"]
            if kind == "websocket.receive":
                message = event.get("bytes") or event["text"]
                if websocket_received.receivers:
                    await websocket_received.send_async(message)
                return message  # type: ignore[no-any-return]
            if kind == "websocket.disconnect":
                self._gone = True
        raise PeerGone()

    async def send_data(self, send: Any, data: str | bytes) -> None:
        if isinstance(data, str):
            await send({"type": "websocket.send", "bytes": None, "text": data})
        else:
            await send({"type": "websocket.send", "bytes": data, "text": None})
        if websocket_sent.receivers:
            await websocket_sent.send_async(data)
