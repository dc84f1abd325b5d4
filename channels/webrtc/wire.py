"""What a browser on WebRTC reports to the gateway (``POST /api/realtime/events``): a pure parser, no I/O.

Media goes straight from the browser to the provider, so the page forwards what the store and the console need:
final transcripts, barge-ins, latencies, errors, the provider's call id, and the end of the session. Bodies are
validated strictly and turned into the hub's typed events here; nothing past this module sees the raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gateway.events import BargeIn, Health, HubEvent, SessionError, TranscriptDelta, TranscriptFinal, TurnLatency

MAX_EVENTS = 50
MAX_TEXT = 4000

Outcome = Literal["completed", "caller_hangup", "connection_lost", "error", "expired"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transcript(_Strict):
    type: Literal["transcript"]
    role: Literal["user", "assistant"]
    text: str = Field(max_length=MAX_TEXT)
    item_id: str = Field(default="", max_length=100)
    final: bool = True


class Interrupted(_Strict):
    type: Literal["barge_in"]
    played_ms: int = Field(default=0, ge=0, le=3_600_000)


class Latency(_Strict):
    type: Literal["latency"]
    ms: float = Field(ge=0, le=120_000)


class BrowserError(_Strict):
    type: Literal["error"]
    message: str = Field(max_length=500)
    fatal: bool = False


class Connection(_Strict):
    type: Literal["health"]
    status: Literal["connecting", "connected", "reconnecting", "disconnected"]
    detail: str = Field(default="", max_length=200)


class ProviderCall(_Strict):
    """The provider's id of the WebRTC call (from the SDP answer's ``Location``), so the console can hang it up."""

    type: Literal["call"]
    call_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}$")


class Ping(_Strict):
    type: Literal["ping"]


class End(_Strict):
    type: Literal["end"]
    outcome: Outcome = "completed"


BrowserEvent = Annotated[
    Transcript | Interrupted | Latency | BrowserError | Connection | ProviderCall | Ping | End,
    Field(discriminator="type"),
]


class EventBatch(_Strict):
    session_id: str = Field(min_length=1, max_length=100)
    token: str | None = Field(default=None, max_length=200)  # for keepalive requests that cannot set headers
    events: list[BrowserEvent] = Field(min_length=1, max_length=MAX_EVENTS)


_BATCH = TypeAdapter(EventBatch)


class WireError(ValueError):
    """A body that is not a valid batch; the message names the problem without echoing the body."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A batch split by what the gateway does with it."""

    session_id: str
    token: str | None
    hub_events: list[HubEvent]
    call_id: str | None
    end: Outcome | None


def parse_batch(raw: bytes) -> Parsed:
    try:
        batch = _BATCH.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise WireError(f"{where}: {first['msg']}") from None
    hub: list[HubEvent] = []
    call_id: str | None = None
    end: Outcome | None = None
    for event in batch.events:
        match event:
            case Transcript(final=True):
                hub.append(TranscriptFinal(event.role, event.text, event.item_id))
            case Transcript():
                hub.append(TranscriptDelta(event.role, event.text, event.item_id))
            case Interrupted():
                hub.append(BargeIn(event.played_ms))
            case Latency():
                hub.append(TurnLatency(event.ms))
            case BrowserError():
                hub.append(SessionError(f"browser: {event.message}", event.fatal))
            case Connection():
                hub.append(Health(event.status, event.detail or "webrtc"))
            case ProviderCall():
                call_id = event.call_id
            case End():
                end = event.outcome
    return Parsed(batch.session_id, batch.token, hub, call_id, end)
