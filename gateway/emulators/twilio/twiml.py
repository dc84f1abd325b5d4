"""TwiML documents parsed into typed verbs (twilio.com/docs/voice/twiml). Only what a voice gateway uses is
understood; any other verb becomes ``Unsupported`` so the interpreter can record it as an error on the call."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class TwimlError(ValueError):
    """The document is not TwiML (Twilio's 12100 "Document parse failure")."""


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    voice: str | None = None
    language: str | None = None
    loop: int = 1


@dataclass(frozen=True, slots=True)
class Play:
    url: str | None
    loop: int = 1
    digits: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    length_s: float = 1.0


@dataclass(frozen=True, slots=True)
class StreamSpec:
    url: str
    name: str | None = None
    track: str = "inbound_track"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Connect:
    stream: StreamSpec | None
    action: str | None = None
    method: str = "POST"
    other: tuple[str, ...] = ()  # nouns other than <Stream> (Room, VirtualAgent…), unsupported here


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Dial:
    targets: tuple[str, ...]
    caller_id: str | None = None
    action: str | None = None
    method: str = "POST"
    timeout_s: int = 30
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Unsupported:
    tag: str


Verb = Say | Play | Pause | Connect | Hangup | Dial | Redirect | Unsupported


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        raise TwimlError(f"not an integer: {value!r}") from None


def _stream(el: ET.Element) -> StreamSpec:
    url = el.get("url")
    if not url:
        raise TwimlError("<Stream> needs a url")
    params = {}
    for child in el:
        if child.tag != "Parameter":
            raise TwimlError(f"<Stream> cannot contain <{child.tag}>")
        name, value = child.get("name"), child.get("value", "")
        if not name:
            raise TwimlError("<Parameter> needs a name")
        params[name] = value
    return StreamSpec(
        url=url,
        name=el.get("name"),
        track=el.get("track", "inbound_track"),
        status_callback=el.get("statusCallback"),
        status_callback_method=el.get("statusCallbackMethod", "POST").upper(),
        parameters=params,
    )


def _dial(el: ET.Element) -> Dial:
    targets: list[str] = []
    if el.text and el.text.strip():
        targets.append(el.text.strip())
    for child in el:
        text = (child.text or "").strip()
        if child.tag == "Number":
            targets.append(text)
        elif child.tag == "Client":
            targets.append(text if text.startswith("client:") else f"client:{text}")
        elif child.tag in ("Sip", "Conference", "Queue", "Application"):
            targets.append(f"{child.tag.lower()}:{text}")
        else:
            raise TwimlError(f"<Dial> cannot contain <{child.tag}>")
    if not targets:
        raise TwimlError("<Dial> names nobody to dial")
    return Dial(
        targets=tuple(targets),
        caller_id=el.get("callerId"),
        action=el.get("action"),
        method=el.get("method", "POST").upper(),
        timeout_s=_int(el.get("timeout"), 30),
        attributes=dict(el.attrib),
    )


def _verb(el: ET.Element) -> Verb:
    tag = el.tag
    if tag == "Say":
        return Say((el.text or "").strip(), el.get("voice"), el.get("language"), _int(el.get("loop"), 1))
    if tag == "Play":
        url = (el.text or "").strip() or None
        digits = el.get("digits")
        if url is None and digits is None:
            raise TwimlError("<Play> needs a URL or digits")
        return Play(url, _int(el.get("loop"), 1), digits)
    if tag == "Pause":
        return Pause(float(_int(el.get("length"), 1)))
    if tag == "Connect":
        streams = [child for child in el if child.tag == "Stream"]
        if len(streams) > 1:
            raise TwimlError("only one bidirectional <Stream> per call")
        other = tuple(child.tag for child in el if child.tag != "Stream")
        return Connect(
            _stream(streams[0]) if streams else None, el.get("action"), el.get("method", "POST").upper(), other
        )
    if tag == "Hangup":
        return Hangup()
    if tag == "Dial":
        return _dial(el)
    if tag == "Redirect":
        url = (el.text or "").strip()
        if not url:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url, el.get("method", "POST").upper())
    return Unsupported(tag)


def parse_twiml(text: str) -> list[Verb]:
    """The verbs of a ``<Response>`` document, in order; raises ``TwimlError`` if it is not one."""
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, not <Response>")
    return [_verb(child) for child in root]
