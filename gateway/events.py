"""Typed events: what engines emit to the conversation runner, and what the session hub fans out.

Raw vendor dicts stop at the wire edge (engine adapters, channel serializers); past it, everything is one of these.
``AudioOut`` travels only between an engine and its channel and never reaches the hub: audio is not an event to log.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "system"]


def now() -> float:
    return time.time()


@dataclass(slots=True, frozen=True)
class AudioOut:
    """Agent audio, base64 PCM16 at the engine's rate, kept encoded so matching formats pass straight through."""

    b64: str
    nbytes: int
    item_id: str = ""


# --- engine → conversation ------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class UserSpeechStarted:
    audio_ms: int = 0
    item_id: str = ""


@dataclass(slots=True, frozen=True)
class UserSpeechStopped:
    audio_ms: int = 0
    item_id: str = ""


@dataclass(slots=True, frozen=True)
class ResponseStarted:
    response_id: str = ""


@dataclass(slots=True, frozen=True)
class ResponseDone:
    response_id: str = ""
    status: str = "completed"


@dataclass(slots=True, frozen=True)
class EngineReconnected:
    attempts: int
    restored_turns: int


@dataclass(slots=True, frozen=True)
class InstructionsChanged:
    """Prompt chaining moved the conversation to another step of the scenario."""

    step: str


# --- published to the hub (and also emitted by engines where marked) ------------------------------------------------
@dataclass(slots=True, frozen=True)
class TranscriptDelta:
    role: Role
    text: str
    item_id: str = ""
    kind: str = field(default="transcript.delta", init=False)


@dataclass(slots=True, frozen=True)
class TranscriptFinal:
    role: Role
    text: str
    item_id: str = ""
    at: float = field(default_factory=now)
    interrupted: bool = False  # an agent turn the caller cut off: ``text`` is what was heard, ending in "…"
    kind: str = field(default="transcript.final", init=False)


@dataclass(slots=True, frozen=True)
class TranscriptAmended:
    """An agent turn already recorded was cut off by the caller: keep only what was heard (see gateway/heard.py)."""

    item_id: str
    original: str
    text: str
    kind: str = field(default="transcript.amended", init=False)


@dataclass(slots=True, frozen=True)
class ToolCallStarted:
    call_id: str
    name: str
    arguments: str
    kind: str = field(default="tool.call", init=False)


@dataclass(slots=True, frozen=True)
class ToolCallFinished:
    call_id: str
    name: str
    arguments: str
    ok: bool
    output: str
    duration_ms: float
    kind: str = field(default="tool.result", init=False)


@dataclass(slots=True, frozen=True)
class BargeIn:
    played_ms: int
    kind: str = field(default="barge_in", init=False)


@dataclass(slots=True, frozen=True)
class BackchannelIgnored:
    text: str
    kind: str = field(default="backchannel", init=False)


@dataclass(slots=True, frozen=True)
class TurnLatency:
    """Caller stopped speaking → first agent audio sent to the caller."""

    ms: float
    kind: str = field(default="latency", init=False)


@dataclass(slots=True, frozen=True)
class SessionError:
    message: str
    fatal: bool = False
    kind: str = field(default="error", init=False)


@dataclass(slots=True, frozen=True)
class Health:
    """Channel health for the console (e.g. provider reconnecting, media connected)."""

    status: str
    detail: str = ""
    kind: str = field(default="health", init=False)


@dataclass(slots=True, frozen=True)
class CallProgress:
    """An outbound call's progress as its carrier reports it (``initiated``, ``ringing``, ``in-progress``)."""

    status: str
    detail: str = ""
    carrier_call_id: str = ""  # the carrier's id of the call, once it has given one
    kind: str = field(default="call.progress", init=False)


@dataclass(slots=True, frozen=True)
class SessionStarted:
    session_id: str
    channel: str
    agent: str
    caller: str
    started_at: float
    kind: str = field(default="session.started", init=False)


@dataclass(slots=True, frozen=True)
class SessionEnded:
    outcome: str
    ended_at: float = field(default_factory=now)
    kind: str = field(default="session.ended", init=False)


@dataclass(slots=True, frozen=True)
class CampaignProgress:
    """A campaign's counts after one of its rows changed: the console's Campaigns view redraws from it (pushed on the
    hub, under the key ``campaign_key(campaign_id)`` that no session has, so it reaches every process's console)."""

    campaign_id: str
    status: str
    total: int
    invalid: int
    dialled: int
    live: int
    done: int
    outcomes: dict[str, int] = field(default_factory=dict)
    kind: str = field(default="campaign.progress", init=False)


def campaign_key(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


HubEvent = (
    TranscriptDelta
    | TranscriptFinal
    | TranscriptAmended
    | ToolCallStarted
    | ToolCallFinished
    | BargeIn
    | BackchannelIgnored
    | TurnLatency
    | SessionError
    | Health
    | CallProgress
    | SessionStarted
    | SessionEnded
    | CampaignProgress
)

EngineEvent = (
    AudioOut
    | UserSpeechStarted
    | UserSpeechStopped
    | ResponseStarted
    | ResponseDone
    | EngineReconnected
    | InstructionsChanged
    | TranscriptDelta
    | TranscriptFinal
    | ToolCallStarted
    | ToolCallFinished
    | SessionError
)


def event_dict(event: HubEvent) -> dict[str, Any]:
    return asdict(event)
