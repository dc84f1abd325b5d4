"""Twilio bidirectional Media Streams messages, both ways. Pure parsing and serialising, no I/O.

Twilio sends ``connected``, ``start``, ``media``, ``dtmf``, ``mark`` and ``stop`` as JSON text frames (numbers as
strings); the server may send only ``media``, ``mark`` and ``clear``, each naming the stream's ``streamSid``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class WireError(ValueError):
    """A message that does not have the shape Twilio sends."""


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


@dataclass(frozen=True, slots=True)
class Media:
    payload: str  # base64 μ-law, 8 kHz


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str


TwilioEvent = Connected | Start | Media | Dtmf | Mark | Stop

_SID = re.compile(r"[A-Za-z0-9]{1,64}")  # stream and call SIDs: letters and digits (echoed unescaped)
_MEDIA_PREFIX = '{"event":"media"'
_PAYLOAD_KEY = '"payload":"'


def _fast_media(message: str) -> Media | None:
    """The payload of a compact ``media`` message without a JSON parse (50 per second per call); anything unusual
    (an escape inside the value) returns ``None`` and takes the full parser."""
    start = message.find(_PAYLOAD_KEY)
    if start < 0:
        return None
    start += len(_PAYLOAD_KEY)
    end = message.find('"', start)
    if end < 0 or message.find("\\", start, end) >= 0:
        return None
    return Media(message[start:end])


def _object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise WireError(f"{obj.get('event')} message without a {key} object")
    return value


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise WireError(f"{key} must be a string")
    return value


def parse(message: str | bytes) -> TwilioEvent | None:
    """One message from Twilio; ``None`` for events we do not use. Raises WireError for malformed ones."""
    if type(message) is str and message.startswith(_MEDIA_PREFIX):
        media = _fast_media(message)
        if media is not None:
            return media
    if isinstance(message, bytes):
        raise WireError("Twilio sends text frames only")
    try:
        obj = json.loads(message)
    except ValueError:
        raise WireError("media stream message is not JSON") from None
    if not isinstance(obj, dict):
        raise WireError("media stream message must be a JSON object")
    event = obj.get("event")
    if event == "media":
        return Media(_text(_object(obj, "media"), "payload"))
    if event == "mark":
        return Mark(_text(_object(obj, "mark"), "name"))
    if event == "dtmf":
        digit = _text(_object(obj, "dtmf"), "digit")
        if len(digit) != 1 or digit not in "0123456789*#ABCDabcd":
            raise WireError("dtmf digit must be one of 0-9 * # A-D")
        return Dtmf(digit)
    if event == "start":
        start = _object(obj, "start")
        params = start.get("customParameters") or {}
        if not isinstance(params, dict):
            raise WireError("start.customParameters must be an object")
        fmt = start.get("mediaFormat") or {}
        if not isinstance(fmt, dict) or not isinstance(fmt.get("sampleRate", 8000), int):
            raise WireError("start.mediaFormat must be an object with a numeric sampleRate")
        stream_sid = _text(start, "streamSid") if "streamSid" in start else _text(obj, "streamSid")
        if not _SID.fullmatch(stream_sid):
            raise WireError("start.streamSid is not a stream SID")
        return Start(
            stream_sid=stream_sid,
            call_sid=_text(start, "callSid"),
            account_sid=str(start.get("accountSid") or ""),
            custom_parameters={str(k): str(v) for k, v in params.items()},
            encoding=str(fmt.get("encoding") or "audio/x-mulaw"),
            sample_rate=fmt.get("sampleRate") or 8000,
        )
    if event == "stop":
        stop = obj.get("stop")
        return Stop(str(stop.get("callSid") or "") if isinstance(stop, dict) else "")
    if event == "connected":
        return Connected(str(obj.get("protocol") or ""))
    if not isinstance(event, str):
        raise WireError("media stream message without event")
    return None


def media(stream_sid: str, payload: str) -> str:
    """Agent audio (base64 μ-law, 8 kHz, no header); neither value needs JSON escaping."""
    return '{"event":"media","streamSid":"' + stream_sid + '","media":{"payload":"' + payload + '"}}'


def mark(stream_sid: str, name: str) -> str:
    """A mark after the audio sent so far (one per frame): as ``media``, built without a JSON encoder (the names are
    the playout's own, ``m<n>``: nothing to escape)."""
    return '{"event":"mark","streamSid":"' + stream_sid + '","mark":{"name":"' + name + '"}}'


def clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid}, separators=(",", ":"))
