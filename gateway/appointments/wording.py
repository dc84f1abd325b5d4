"""How a booked slot is shown outside the call: written for an SMS or a record, and where its ICS file is served."""

from __future__ import annotations

from .calendar import Slot

WEEKDAYS = "月火水木金土日"


def ics_path(booking_id: str) -> str:
    """Where the booking's ICS file is served (behind API_TOKEN)."""
    return f"/api/appointments/{booking_id}.ics"


def written(slot: Slot) -> str:
    """How a slot is written in an SMS or on the console: 12月7日(月) 10:00〜10:30."""
    start = slot.start
    return f"{start.month}月{start.day}日({WEEKDAYS[start.weekday()]}) {start:%H:%M}〜{slot.end:%H:%M}"
