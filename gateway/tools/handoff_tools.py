"""Tools that move a conversation between channels (see gateway/handoff.py), usable on every channel."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .. import readings
from ..handoff import Handoffs, TooManyAttempts
from .registry import ToolContext, ToolError, ToolRegistry, ToolResult

MAX_ITEMS = 40
TOO_MANY_ATTEMPTS = "too_many_attempts"  # the tool error code; the HTTP endpoint answers it with 429


class CodeArgs(BaseModel):
    code: str = Field(description="The 6-digit code the caller reads out, e.g. 482913 (digits as heard, kana also accepted)")


class NoArgs(BaseModel):
    pass


def register_handoff_tools(registry: ToolRegistry, handoffs: Handoffs) -> None:
    """``handoffs``: the app's one ``Handoffs``, whose count of wrong codes every session shares."""

    @registry.function(CodeArgs)
    async def continue_conversation(args: CodeArgs, ctx: ToolContext) -> ToolResult:
        """Continue a conversation the caller started on another channel, from the 6-digit code they were given."""
        try:
            continuation = await handoffs.claim(readings.spoken_digits(args.code), ctx.session_id, ctx.caller)
        except TooManyAttempts:
            raise ToolError(
                "Too many wrong codes were tried. Apologise, and tell the caller that codes cannot be checked for a "
                "while; offer to continue without the earlier conversation.",
                code=TOO_MANY_ATTEMPTS,
            ) from None
        if continuation is None:
            raise ToolError("That code is unknown, already used or expired. Ask the caller to check the code.")
        return ToolResult(
            {
                "continued_from": continuation.conversation_id,
                "instructions": continuation.briefing(),
                "earlier_conversation": [f"{role}: {text}" for role, text in continuation.history[-MAX_ITEMS:]],
            },
            next_step=continuation.step,
        )

    @registry.function(NoArgs)
    async def handoff_code(args: NoArgs, ctx: ToolContext) -> dict:
        """A 6-digit code with which the caller can continue this conversation on another channel (e.g. the web page)."""
        code = await handoffs.issue(ctx.session_id)
        return {"code": code, "code_spoken": readings.read_code(code), "valid_minutes": 15}
