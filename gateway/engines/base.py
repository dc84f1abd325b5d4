"""What every voice engine offers the conversation runner, whatever provider is behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..events import EngineEvent
from ..readings import ReadingsDictionary

if TYPE_CHECKING:
    from ..config import Settings
    from ..profiles import AgentProfile
    from ..tools import ToolContext, ToolRegistry


class EngineUnavailable(Exception):
    """The provider cannot be reached or refused us: the channel apologises and ends the call cleanly."""


@dataclass(slots=True)
class AgentSetup:
    """Everything an engine needs to run one conversation with the shared agent."""

    profile: AgentProfile
    registry: ToolRegistry
    tool_context: ToolContext
    settings: Settings
    history: list[tuple[str, str]] | None = None  # earlier turns when a conversation continues from another channel
    step: str | None = None
    readings: ReadingsDictionary = field(default_factory=ReadingsDictionary)  # the deployment's, as of the call's start

    @property
    def session_id(self) -> str:
        return self.tool_context.session_id


class EngineSession(Protocol):
    rate: int

    async def start(self) -> None:
        """Connect and configure; raises EngineUnavailable when the provider cannot be had."""

    async def send_audio_b64(self, b64: str) -> None:
        """Caller audio, base64 PCM16 at ``rate`` (hot path: no decoding on the way through)."""

    def events(self) -> AsyncIterator[EngineEvent]: ...

    async def respond(self, instructions: str | None = None) -> None:
        """Ask for the agent's next turn (the runner decides when: turn-taking is ours, not the provider's)."""

    async def add_message(self, role: str, text: str) -> None:
        """Put words into the conversation without a response (e.g. a greeting the phone system already spoke)."""

    async def move_to_step(self, step: str) -> None:
        """Continue on another step of the profile's scenario (prompt chaining)."""

    async def cancel_response(self) -> None: ...

    async def truncate(self, item_id: str, played_ms: int) -> None:
        """Forget the agent audio the caller never heard."""

    async def close(self) -> None: ...
