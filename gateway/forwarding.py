"""A request that reached a process other than its call's owner is handed to the owner, unchanged.

Why forward rather than take the call over: the owner holds the call's pre-warmed Realtime session, its greeting
state and its timers; a second process taking the call would open a second Realtime session (a second bill, a
second greeting, a ghost left open in the first process). The forwarded request carries the carrier's own
headers, query and body, so the owner checks its signature, token or JWT as if the carrier had called it directly;
its answer goes back as it is. A media socket is relayed frame by frame for its whole life (the cost: one more
loopback hop per frame in both processes, measured by ``voice-gateway bench``). A browser conversation's page that
comes back through another process (its socket dropped, the load balancer chose another replica) is relayed the
same way, from its hello on, to the process that carries the conversation.

If the owner does not answer (its process stopped), this process records itself as the owner and handles the
request: the caller loses the pre-warm (a new Realtime session is opened) but not the call.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import aiohttp
from quart import Response, request, websocket

from .engines.providers import ws_url
from .logs import session_context
from .relaying import until_either_ends
from .shared.owners import CallOwners

logger = logging.getLogger(__name__)

FORWARDED_HEADER = "X-Gateway-Forwarded"  # set on a forwarded request: the receiver never forwards it again
CONNECT_TIMEOUT_S = 2.0  # a peer on this host answers in milliseconds; another replica within a second
REQUEST_TIMEOUT_S = 15.0
NOT_FORWARDED: Final = "not-forwarded"
RELAYED: Final = "relayed"
TAKEN_OVER: Final = "taken-over"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host",
    "content-length", "proxy-authenticate", "proxy-authorization",
}  # fmt: skip
WEBSOCKET_HANDSHAKE = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"}


def _passed_on(headers: object, skip: set[str]) -> dict[str, str]:
    passed = {k: v for k, v in headers.items() if k.lower() not in skip}  # type: ignore[attr-defined]
    passed[FORWARDED_HEADER] = "1"
    return passed


class Forwarder:
    def __init__(self, owners: CallOwners, max_message_bytes: int) -> None:
        self.owners = owners
        self.max_message_bytes = max_message_bytes
        self.forwarded = 0  # requests and media sockets handed to their owner
        self.taken_over = 0  # owners that did not answer: this process took their call
        self.relaying = 0  # media sockets relayed to their owner right now (the drain waits for them too)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # created lazily, inside the serving event loop
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
            self._session = aiohttp.ClientSession(timeout=timeout, auto_decompress=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _owner(self, key: str, headers: object) -> str | None:
        if headers.get(FORWARDED_HEADER):  # type: ignore[attr-defined]
            return None  # it came from another process: handled here, whatever the record says
        return await self.owners.elsewhere(key)

    async def http(self, key: str, session_id: str) -> Response | None:
        """The owner's answer to this request when another process owns the call known by ``key``; ``None``: the
        request is this process's to handle."""
        peer = await self._owner(key, request.headers)
        if peer is None:
            return None
        answer = await self.hand_to(peer, session_id)
        if answer is None:
            with session_context(session_id):
                await self._take_over(key, peer)
        return answer

    async def _take_over(self, key: str, peer: str) -> None:
        self.taken_over += 1
        logger.warning("the call's owner at %s did not answer: this process takes the call over", peer)
        await self.owners.own(key)

    def forwarded_here(self) -> bool:
        """This request came from another gateway process (it is not to be handed on again)."""
        return bool(request.headers.get(FORWARDED_HEADER))

    async def hand_to(self, peer: str, session_id: str) -> Response | None:
        """This request, sent on to ``peer`` as it came; its answer, or ``None`` when ``peer`` did not answer."""
        body = await request.get_data()
        query = request.query_string.decode("latin-1")
        url = f"{peer}{request.path}{'?' + query if query else ''}"
        with session_context(session_id):
            try:
                async with self.session.request(
                    request.method, url, data=body, headers=_passed_on(request.headers, HOP_BY_HOP),
                    timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S, sock_connect=CONNECT_TIMEOUT_S), allow_redirects=False,
                ) as answer:  # fmt: skip
                    content = await answer.read()
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                logger.warning("%s: the process at %s did not answer (%s)", request.path, peer, type(exc).__name__)
                return None
            self.forwarded += 1
            logger.info("%s forwarded to the call's owner (%s): %d", request.path, peer, answer.status)
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            return Response(content, answer.status, headers=headers)

    async def websocket(self, key: str, session_id: str) -> Response | None | str:
        """Relays this media socket to the owner of the call known by ``key`` for its whole life; returns what the
        route returns (``None``, or the owner's refusal), or ``NOT_FORWARDED`` when the socket is this process's."""
        peer = await self._owner(key, websocket.headers)
        if peer is None:
            return NOT_FORWARDED
        with session_context(session_id):
            try:
                upstream = await self._connect(key, peer, HOP_BY_HOP)
            except aiohttp.WSServerHandshakeError as exc:  # the owner refused it: the carrier gets the same answer
                logger.warning("media socket refused by the call's owner (%s): %d", peer, exc.status)
                return Response(exc.message or "refused", exc.status)
            if upstream is None:
                return NOT_FORWARDED
            logger.info("media socket relayed to the call's owner (%s)", peer)
            await websocket.accept()
            await self._relay(upstream)
        return None

    async def accepted_socket(self, key: str, session_id: str, first: str) -> str:
        """Relays an accepted socket whose first message ``first`` named what another process owns (a browser
        conversation resumed through another worker or replica), ``first`` included, for its whole life.

        Returns ``RELAYED``, ``NOT_FORWARDED`` (the socket is this process's) or ``TAKEN_OVER`` (the owner did not
        answer: this process is the owner now). The page's Host and Origin go along: the owner checks them too."""
        peer = await self._owner(key, websocket.headers)
        if peer is None:
            return NOT_FORWARDED
        with session_context(session_id):
            try:
                upstream = await self._connect(key, peer, HOP_BY_HOP - {"host"})
            except aiohttp.WSServerHandshakeError as exc:
                logger.warning("socket refused by its owner (%s): %d", peer, exc.status)
                await websocket.close(1011, "refused by its owner")
                return RELAYED
            if upstream is None:
                return TAKEN_OVER
            logger.info("%s socket relayed to the conversation's owner (%s)", websocket.path, peer)
            await upstream.send_str(first)
            await self._relay(upstream)
        return RELAYED

    async def _connect(self, key: str, peer: str, skip: set[str]) -> aiohttp.ClientWebSocketResponse | None:
        """This socket's twin at ``peer``; ``None`` when ``peer`` did not answer (this process takes the call over)."""
        query = websocket.query_string.decode("latin-1")
        url = f"{ws_url(peer)}{websocket.path}{'?' + query if query else ''}"
        try:
            upstream = await self.session.ws_connect(
                url, headers=_passed_on(websocket.headers, skip | WEBSOCKET_HANDSHAKE), autoping=False,
                max_msg_size=self.max_message_bytes, compress=0,
            )  # fmt: skip
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            logger.warning("%s: the process at %s did not answer (%s)", websocket.path, peer, type(exc).__name__)
            await self._take_over(key, peer)
            return None
        self.forwarded += 1
        return upstream

    async def _relay(self, upstream: aiohttp.ClientWebSocketResponse) -> None:
        self.relaying += 1
        try:
            await relay(upstream)
        finally:
            self.relaying -= 1
            await upstream.close()


async def relay(upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Frames both ways until either side closes; the owner's close code reaches the carrier."""

    async def up() -> None:
        while True:
            data = await websocket.receive()
            await (upstream.send_str(data) if isinstance(data, str) else upstream.send_bytes(data))

    async def down() -> None:
        async for message in upstream:
            if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return
            await websocket.send(message.data)

    await until_either_ends(up(), down())
    if upstream.close_code is not None:
        with contextlib.suppress(Exception):
            await websocket.close(upstream.close_code if upstream.close_code >= 1000 else 1000, "")
