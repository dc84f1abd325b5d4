"""Tools that move a conversation between channels (see gateway/handoff.py), usable on every channel."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..handoff import Handoffs
from .registry import ToolContext, ToolError, ToolRegistry, ToolResult

MAX_ITEMS = 40


class CodeArgs(BaseModel):
    code: str = Field(description="The 6-digit code the caller reads out, digits only, e.g. 482913")


class NoArgs(BaseModel):
    pass


def register_handoff_tools(registry: ToolRegistry) -> None:
    @registry.function(CodeArgs)
    async def continue_conversation(args: CodeArgs, ctx: ToolContext) -> ToolResult:
        """Continue a conversation the caller started on another channel, from the 6-digit code they were given."""
        continuation = await Handoffs(ctx.store).claim(args.code, ctx.session_id)
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
        from .. import spoken

        code = await Handoffs(ctx.store).issue(ctx.session_id)
        return {"code": code, "code_spoken": spoken.read_digits(code, "、"), "valid_minutes": 15}
