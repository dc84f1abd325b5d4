"""Persistence: conversations, transcripts, tool calls and the demo business data."""

from .store import ReservationConflict, Store

__all__ = ["ReservationConflict", "Store"]
