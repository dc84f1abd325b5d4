"""Typed records of what happened on the emulated account (wire shapes stay in ``rest.py`` and ``stream.py``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class CallStatus(enum.StrEnum):
    """``CallStatus`` / the Call resource's ``status``."""

    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED}
)


class ErrorCode(enum.IntEnum):
    """Twilio error and warning codes the emulator records on a call (twilio.com/docs/api/errors/<code>)."""

    HTTP_RETRIEVAL_FAILURE = 11200
    HTTP_TIMEOUT = 11205
    DOCUMENT_PARSE_FAILURE = 12100
    INVALID_CONTENT_TYPE = 12300
    STREAM_HANDSHAKE_ERROR = 31920
    STREAM_MALFORMED_MESSAGE = 31950
    STREAM_PROTOCOL_INVALID_MESSAGE = 31951


@dataclass(frozen=True, slots=True)
class CallError:
    code: int
    message: str
    at: float  # time.monotonic()


@dataclass(slots=True)
class TwimlEntry:
    """One verb as the caller experienced it: what was said or played, from when to when."""

    verb: str
    started_at: float
    ended_at: float | None = None
    text: str | None = None  # <Say> text, <Play digits>, <Dial> numbers
    url: str | None = None  # <Play>, <Stream>, <Redirect>
    attributes: dict[str, str] = field(default_factory=dict)
    pcm: bytes = b""  # <Play>: the fetched audio at 8 kHz, 16-bit
    http_status: int | None = None
    error: int | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(slots=True)
class MarkRecord:
    """A ``mark`` from the gateway; ``reason`` says why it was echoed: ``playback`` (its audio played, or nothing
    was buffered) or ``clear`` (a clear dropped the audio before it)."""

    name: str
    received_at: float
    buffered_ms: float  # audio still to play when it arrived
    echoed_at: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ClearRecord:
    at: float
    dropped_ms: float
    marks_echoed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Transfer:
    """A ``<Dial>`` the call reached (usually through a REST update that replaced the running TwiML)."""

    at: float
    targets: tuple[str, ...]
    caller_id: str | None
    action: str | None
    attributes: dict[str, str]
    child_call_sid: str = ""  # the <Dial> leg
    dial_status: str = "completed"  # DialCallStatus reported to ``action``


@dataclass(slots=True)
class Message:
    """An SMS created through ``Messages.json``."""

    sid: str
    to: str
    from_: str
    body: str
    media_urls: tuple[str, ...]
    status_callback: str | None
    at: float
    params: dict[str, list[str]]
    deliveries: list[WebhookResult] = field(default_factory=list)  # its status callbacks (sent, delivered)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One REST request (the Authorization header itself is never kept)."""

    method: str
    path: str
    params: dict[str, list[str]]
    status: int
    authenticated: bool
    at: float
    call_sid: str | None = None
    error_code: int | None = None


@dataclass(slots=True)
class StatusDelivery:
    """One status callback POST; ``duplicate`` marks the extra copies a disorderly config adds."""

    event: str
    call_status: str
    sequence_number: int
    url: str
    params: dict[str, str]
    queued_at: float
    sent_at: float | None = None
    http_status: int | None = None
    error: str | None = None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """A webhook POST and the gateway's answer."""

    url: str
    params: dict[str, str]
    status: int | None
    body: str
    content_type: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


def form_to_lists(form: Any) -> dict[str, list[str]]:
    """A Quart/werkzeug MultiDict as ``{name: [values]}`` (repeated keys kept)."""
    return {key: list(form.getlist(key)) for key in form.keys()}
