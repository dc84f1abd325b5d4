"""Handing a phone call to a person: the ``transfer_to_operator`` tool and the desk that finds the live call a
session's tool call is about (phone calls open themselves here; other channels have nothing to transfer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

from .tools.registry import ToolContext, ToolError, ToolRegistry

Transfer = Callable[[str], Awaitable[dict[str, Any]]]  # reason → what the tool returns to the model


class TransferDesk:
    """The live calls that can be transferred, by session id (one per app; each call opens and closes itself)."""

    def __init__(self) -> None:
        self._calls: dict[str, Transfer] = {}

    def open(self, session_id: str, transfer: Transfer) -> None:
        self._calls[session_id] = transfer

    def close(self, session_id: str) -> None:
        self._calls.pop(session_id, None)

    async def transfer(self, session_id: str, reason: str) -> dict[str, Any]:
        transfer = self._calls.get(session_id)
        if transfer is None:
            raise ToolError("Only a phone call can be transferred to a person; offer to take a message instead.")
        return await transfer(reason)


class TransferArgs(BaseModel):
    reason: str = Field(default="", max_length=200, description="Why the caller needs a person, in a few words")


def register_transfer_tool(registry: ToolRegistry, desk: TransferDesk) -> None:
    @registry.function(TransferArgs)
    async def transfer_to_operator(args: TransferArgs, ctx: ToolContext) -> dict[str, Any]:
        """Transfer this phone call to a human operator (cold transfer). Before calling this, tell the caller that
        you are transferring them to a person and ask them to wait a moment; after it, say nothing more unless
        told that the transfer failed."""
        return await desk.transfer(ctx.session_id, args.reason)
