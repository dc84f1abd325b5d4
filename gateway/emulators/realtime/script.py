"""What the emulated model says: an ordered script of spoken replies and function calls.

Tests pin the conversation down instead of depending on a language model: step N plays on the N-th response,
whatever triggered it (end of a user turn, or ``response.create``). A reply that follows a function call can
quote the tool's output (``{output[reservation_number]}``), which is how tests prove the gateway fed the tool
result back. The script may also say what the emulator "heard" in each user turn (the input transcription).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .voice import clip_text

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplyContext:
    """What a reply template can see when it is rendered."""

    response_index: int
    user_transcript: str | None = None
    tool_output: str | None = None
    tool_outputs: dict[str, str] = field(default_factory=dict)
    instructions: str = ""
    response_instructions: str | None = None

    @property
    def output(self) -> Any:
        """The latest tool output, parsed as JSON when it is JSON."""
        if self.tool_output is None:
            return {}
        try:
            return json.loads(self.tool_output)
        except ValueError:
            return self.tool_output


class _Missing(dict[str, Any]):
    """Template variables; an unknown name renders as ``{name}`` instead of raising mid-call."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(slots=True)
class Say:
    """A spoken reply: transcript text plus real audio.

    ``text`` may be a template (``str.format`` with ``output``, ``outputs``, ``user``, ``instructions``) or a
    callable taking the ``ReplyContext``. Audio is ``clips`` (names such as ``"hello"``/``"goodbye"`` or WAV paths)
    played back to back, looped or cut to ``duration_ms`` when given. Without clips it uses both stock clips.
    With no text, the clip's own words are used.
    """

    text: str | Callable[[ReplyContext], str] | None = None
    clips: tuple[str, ...] = ()
    duration_ms: int | None = None

    def audio_clips(self) -> tuple[str, ...]:
        if self.clips:
            return tuple(self.clips)
        return ("hello",) if self.duration_ms is None else ("hello", "goodbye")

    def render_text(self, ctx: ReplyContext) -> str:
        if callable(self.text):
            return str(self.text(ctx))
        if self.text is None:
            return " ".join(t for c in self.audio_clips() if (t := clip_text(c))) or "..."
        values = _Missing(
            output=ctx.output,
            outputs={k: _parse(v) for k, v in ctx.tool_outputs.items()},
            user=ctx.user_transcript or "",
            instructions=ctx.instructions,
        )
        try:
            return self.text.format_map(values)
        except (KeyError, IndexError, AttributeError, TypeError, ValueError):
            logger.warning("reply template %r could not be filled from %r", self.text, ctx.tool_output)
            return self.text


@dataclass(slots=True)
class CallTool:
    """A function call the model makes; ``then`` is the reply spoken after the tool output comes back.

    ``preamble`` is spoken in the same response before the call (output 0 is the message, output 1 the call),
    like a model saying "one moment" while it looks something up. ``call_id`` is generated when not given.
    """

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    then: Say | None = None
    preamble: Say | None = None
    call_id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@dataclass(slots=True)
class Pick:
    """A step chosen when its response starts, from what the session has seen so far (the caller's words, the tool
    outputs, the instructions): the offline demo's model answers what it heard, a tool call or a reply, instead of
    following a fixed order. A picked ``CallTool``'s ``then`` is spoken on the next response, as in a fixed script."""

    choose: Callable[[ReplyContext], Say | CallTool]


Step = Say | CallTool | Pick


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass(slots=True)
class Script:
    """Ordered steps, one per response; what to say once they run out; what the user "said" per turn.

    ``CallTool(then=...)`` counts as two steps (the call, then the reply after its output). ``loop`` restarts the
    steps when exhausted; otherwise ``when_exhausted`` is spoken for every further response.
    """

    steps: Sequence[Step] = ()
    user_transcripts: Sequence[str] = ()
    when_exhausted: Say | Pick = field(default_factory=lambda: Say(clips=("goodbye",)))
    loop: bool = False

    def flat_steps(self) -> list[Step]:
        flat: list[Step] = []
        for step in self.steps:
            flat.append(step)
            if isinstance(step, CallTool) and step.then is not None:
                flat.append(step.then)
        return flat

    @classmethod
    def default(cls) -> Script:
        """Greets, then answers every turn with the stock closing line: enough for the CLI demo."""
        return cls(steps=[Say(clips=("hello",))], when_exhausted=Say(clips=("goodbye",)))

    @classmethod
    def replies(cls, *texts: str, duration_ms: int | None = None) -> Script:
        """Shorthand: spoken replies with the given transcripts over stock audio."""
        return cls(steps=[Say(text=t, duration_ms=duration_ms) for t in texts])


class ScriptCursor:
    """Position in a script (one per session, or one per emulator when reconnects should continue it)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self._steps = script.flat_steps()
        self.responses = 0
        self.user_turns = 0
        self._followups: list[Say] = []  # the ``then`` of a picked tool call, spoken before anything else

    def next_step(self) -> Step:
        """The step for the next response; advances the cursor."""
        i = self.responses
        self.responses += 1
        if self._followups:
            return self._followups.pop(0)
        if i < len(self._steps):
            return self._steps[i]
        if self.script.loop and self._steps:
            return self._steps[i % len(self._steps)]
        return self.script.when_exhausted

    def resolve(self, step: Step, ctx: ReplyContext) -> Say | CallTool:
        """``step`` as it plays: a ``Pick`` chooses now (and a chosen call's ``then`` follows it)."""
        if not isinstance(step, Pick):
            return step
        chosen = step.choose(ctx)
        if isinstance(chosen, CallTool) and chosen.then is not None:
            self._followups.append(chosen.then)
        return chosen

    def next_user_transcript(self) -> str | None:
        """The scripted transcript of the next user turn, or ``None`` when the script does not say."""
        i = self.user_turns
        self.user_turns += 1
        return self.script.user_transcripts[i] if i < len(self.script.user_transcripts) else None
