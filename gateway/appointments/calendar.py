"""What the booking tools need from a calendar, and nothing more: free slots in a range, book one, cancel.

The agent only ever sees the tools (``gateway/tools/calendar_tools.py``), and the tools only this Protocol, so a
deployment can put Google Calendar or Microsoft 365 behind it without touching a profile or a tool. Times are
Japan time without a zone (naive): the tools read them aloud as they are, and the ICS file says Asia/Tokyo.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Slot:
    start: dt.datetime  # Japan time, naive
    end: dt.datetime

    @property
    def slot_id(self) -> str:
        """What the model passes back to book this slot (the start, ISO, to the minute)."""
        return self.start.isoformat(timespec="minutes")

    @classmethod
    def starting(cls, start: dt.datetime) -> Slot:
        """A slot known only by its start, as the model names it (``slot_id``): the calendar knows its length."""
        return cls(start, start)


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    slot: Slot
    who: str
    variables: dict[str, str] = field(default_factory=dict)
    conversation_id: str | None = None
    status: str = "booked"  # booked, cancelled
    stamp: dt.datetime | None = None  # UTC: when it was booked, or cancelled (the ICS DTSTAMP)


class SlotTaken(Exception):
    """Someone else booked the slot first (another call, another worker): the caller must choose another."""


class UnknownSlot(ValueError):
    """The slot is not one the calendar offers (outside its hours, in the past, not on its grid)."""


class Calendar(Protocol):
    async def free_slots(self, start: dt.datetime, end: dt.datetime) -> list[Slot]:
        """The slots free between ``start`` and ``end`` (Japan time), earliest first."""
        ...

    async def book(self, slot: Slot, who: str, variables: dict[str, str], conversation_id: str | None = None) -> Booking:
        """Book ``slot`` (identified by its start) for ``who``; raises ``SlotTaken`` when it is no longer free, ``UnknownSlot`` when it is
        not a slot of this calendar."""
        ...

    async def cancel(self, booking_id: str) -> Booking | None:
        """Cancel a booking and free its slot; ``None`` when there is no such booking."""
        ...

    async def booking(self, booking_id: str) -> Booking | None: ...

    async def bookings_of(self, conversation_id: str) -> list[Booking]:
        """The bookings a conversation made (its record lists them with their ICS files)."""
        ...
