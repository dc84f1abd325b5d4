"""A deliberately small WebSocket client (RFC 6455) on an ``asyncio.Protocol``, for the load generator.

Hundreds of emulated phone calls each send and receive 50 messages a second; through a full client library the
load generator would burn a core of its own and skew the figures it is meant to measure. This one writes a frame
with one ``transport.write`` and hands each received text message to a callback with its arrival time.
It masks with an all-zero key (legal on the wire, and the payload then goes out unchanged, so no per-byte XOR).
Only what the benchmark needs: text frames out; text, binary, ping and close in; no extensions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ZERO_MASK = b"\0\0\0\0"
_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeError(Exception):
    """The server did not switch protocols; ``status`` is its HTTP status (0 if it never answered properly)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def frame_header(opcode: int, length: int) -> bytes:
    """A masked (all-zero key) client frame header for a payload of ``length`` bytes."""
    if length < 126:
        return struct.pack("!BB", 0x80 | opcode, 0x80 | length) + _ZERO_MASK
    if length < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length) + _ZERO_MASK
    return struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length) + _ZERO_MASK


@dataclass(slots=True, frozen=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "http"):
            raise ValueError(f"only plain ws:// URLs are supported here: {url}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, path)


class LeanWebSocket(asyncio.Protocol):
    """One client connection. ``on_text(payload, now)`` runs for every text (or binary) message received."""

    def __init__(self, on_text: Callable[[bytes, float], None], on_close: Callable[[], None]) -> None:
        self._on_text = on_text
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._open = False
        self._handshake: asyncio.Future[None] | None = None
        self._accept = ""
        self._fragments: list[bytes] = []
        self.closed = False

    # -- opening --
    async def handshake(self, target: Target, headers: Mapping[str, str], timeout: float) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self._accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        lines = [
            f"GET {target.path} HTTP/1.1",
            f"Host: {target.host}:{target.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        self._handshake = asyncio.get_running_loop().create_future()
        assert self._transport is not None
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await asyncio.wait_for(self._handshake, timeout)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def _finish_handshake(self) -> None:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        future = self._handshake
        assert future is not None
        try:
            status = int(head[0].split()[1])
        except (IndexError, ValueError):
            status = 0
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        if status != 101:
            future.set_exception(HandshakeError(f"server answered {head[0]!r}", status))
        elif fields.get("sec-websocket-accept") != self._accept:
            future.set_exception(HandshakeError("bad Sec-WebSocket-Accept", status))
        else:
            self._open = True
            future.set_result(None)

    # -- sending --
    def send_text(self, payload: bytes) -> bool:
        """Queue one text message; ``False`` once the connection is gone."""
        transport = self._transport
        if self.closed or transport is None or transport.is_closing():
            return False
        transport.write(frame_header(_OP_TEXT, len(payload)) + payload)
        return True

    def close(self, code: int = 1000) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if self._open:
                body = struct.pack("!H", code)
                transport.write(frame_header(_OP_CLOSE, len(body)) + body)
            transport.close()

    # -- receiving --
    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._open:
            self._finish_handshake()
            if not self._open:
                return
        now = time.monotonic()
        buf = self._buf
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = (buf[pos + 2] << 8) | buf[pos + 3], 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if b1 & 0x80:  # a server must not mask; tolerate it anyway
                head += 4
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            if b1 & 0x80:
                mask = buf[pos + head - 4 : pos + head]
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            pos += head + length
            self._frame(b0 & 0x0F, bool(b0 & 0x80), payload, now)
        if pos:
            del buf[:pos]

    def _frame(self, opcode: int, fin: bool, payload: bytes, now: float) -> None:
        if opcode in (_OP_TEXT, _OP_BINARY, _OP_CONT):
            if not fin:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                self._fragments.clear()
            self._on_text(payload, now)
        elif opcode == _OP_PING:
            if self._transport is not None and not self._transport.is_closing():
                self._transport.write(frame_header(_OP_PONG, len(payload)) + payload)
        elif opcode == _OP_CLOSE:
            self.close(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(HandshakeError(f"connection lost during handshake: {exc}"))
        self._on_close()


async def connect(
    url: str,
    headers: Mapping[str, str],
    on_text: Callable[[bytes, float], None],
    on_close: Callable[[], None],
    timeout: float = 10.0,
) -> LeanWebSocket:
    """Open a connection and complete the handshake; raises ``HandshakeError`` or ``OSError``."""
    target = Target.parse(url)
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: LeanWebSocket(on_text, on_close), target.host, target.port), timeout
    )
    try:
        await protocol.handshake(target, headers, timeout)
    except BaseException:
        protocol.close()
        raise
    return protocol
