"""The ``record_declined`` tool: the agent records that the person it called declined (not interested, do not call
again). A campaign reads it back from the call's tool calls, the way ``booked`` is read from the booking tool that
decides the SMS, so the outcome is what the agent recorded during the call, not a guess from the transcript."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .tools.registry import ToolContext, ToolRegistry

DECLINE_TOOL = "record_declined"


class DeclinedArgs(BaseModel):
    reason: str = Field(default="", max_length=200, description="Why they declined, in a few words, if they said")


def register_declined_tool(registry: ToolRegistry) -> None:
    @registry.function(DeclinedArgs, name=DECLINE_TOOL)
    async def record_declined(args: DeclinedArgs, ctx: ToolContext) -> dict[str, Any]:
        """Record that the person you called declined the offer (not interested, or asked not to be called
        again). Call it once they have clearly said no, then thank them and end the conversation politely."""
        return {"recorded": "declined", "reason": args.reason}
