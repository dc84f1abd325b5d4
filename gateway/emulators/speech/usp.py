"""USP ("Universal Speech Protocol") framing as spoken by the Azure Speech SDK over WebSocket.

Text frames are ``header lines\\r\\n\\r\\nbody``; binary frames are a big-endian uint16 header length, the header
lines, then the payload. Header names are matched case-insensitively.
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class UspMessage:
    """One USP message, either direction."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str = b""
    binary: bool = False

    def header(self, name: str, default: str = "") -> str:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return value
        return default

    @property
    def request_id(self) -> str:
        return self.header("X-RequestId")

    def json(self) -> Any:
        body = self.body.decode("utf-8") if isinstance(self.body, bytes) else self.body
        return json.loads(body) if body.strip() else None


def _parse_headers(text: str) -> tuple[str, dict[str, str]]:
    headers: dict[str, str] = {}
    path = ""
    for line in text.split("\r\n"):
        if not line:
            continue
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        headers[name] = value
        if name.lower() == "path":
            path = value
    return path, headers


def parse_frame(frame: str | bytes) -> UspMessage:
    """Parse one WebSocket message (text or binary) into a ``UspMessage``; raises ``ValueError`` when malformed."""
    if isinstance(frame, str):
        head, sep, body = frame.partition("\r\n\r\n")
        if not sep:
            raise ValueError("USP text frame without header/body separator")
        path, headers = _parse_headers(head)
        return UspMessage(path, headers, body, binary=False)
    if len(frame) < 2:
        raise ValueError("USP binary frame shorter than its header length field")
    (hlen,) = struct.unpack(">H", frame[:2])
    if len(frame) < 2 + hlen:
        raise ValueError("USP binary frame shorter than its declared header")
    path, headers = _parse_headers(frame[2 : 2 + hlen].decode("utf-8", "replace"))
    return UspMessage(path, headers, bytes(frame[2 + hlen :]), binary=True)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _header_block(path: str, request_id: str, content_type: str | None, extra: dict[str, str] | None) -> str:
    lines = [f"X-RequestId:{request_id}", f"Path:{path}"]
    if content_type:
        lines.append(f"Content-Type:{content_type}")
    lines.append(f"X-Timestamp:{timestamp()}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}:{value}")
    return "\r\n".join(lines)


def text_frame(path: str, request_id: str, body: Any, extra: dict[str, str] | None = None) -> str:
    """A service → client text frame with a JSON body (``body`` may be a dict or an already-encoded string)."""
    payload = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return _header_block(path, request_id, "application/json; charset=utf-8", extra) + "\r\n\r\n" + payload


def binary_frame(
    path: str, request_id: str, payload: bytes, content_type: str | None = None, extra: dict[str, str] | None = None
) -> bytes:
    """A service → client binary frame (uint16 BE header length + headers + payload)."""
    head = _header_block(path, request_id, content_type, extra).encode("utf-8")
    return struct.pack(">H", len(head)) + head + payload


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True, frozen=True)
class WavFormat:
    rate: int
    bits: int
    channels: int
    format_tag: int = 1


def parse_wav_header(data: bytes) -> tuple[WavFormat, int] | None:
    """Parse a RIFF/WAVE header at the start of ``data``; returns the format and the offset of the sample data."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    fmt: WavFormat | None = None
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = pos + 8
        if cid == b"fmt " and body + 16 <= len(data):
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            fmt = WavFormat(rate, bits, channels, tag)
        elif cid == b"data":
            return (fmt or WavFormat(16000, 16, 1)), body
        pos = body + size + (size & 1)
    if fmt is not None:
        return fmt, min(len(data), 44)
    return None
