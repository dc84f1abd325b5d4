"""Persistence: conversations, transcripts, tool calls and the demo business data."""

from .store import MAX_BOOKING, ReservationConflict, Store

__all__ = ["MAX_BOOKING", "ReservationConflict", "Store"]
