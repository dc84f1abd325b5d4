"""The booking tools: free slots of a calendar and booking one, with the dates and times ready to read aloud.

The tools speak only to the ``Calendar`` interface (``gateway/appointments/calendar.py``): the store's appointment
book by default, any other calendar a deployment plugs in otherwise, with no change to a profile or to the agent.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, field_validator

from .. import readings
from ..appointments import Calendar, Slot, SlotTaken, StoreCalendar, UnknownSlot
from ..appointments.wording import ics_path, written
from ..japan_time import japan_now
from .registry import ToolContext, ToolError, ToolRegistry, ToolResult

HORIZON = dt.timedelta(days=366)  # no calendar is asked about dates further ahead than this


def spoken(slot: Slot) -> str:
    """The slot's start as the agent reads it (katakana, from the readings module)."""
    return f"{readings.read_date(slot.start.date())} {readings.read_time(slot.start)}"


def offered(slots: list[Slot], limit: int) -> list[Slot]:
    """At most ``limit`` slots, one per day first (a choice of days is easier to answer on the phone)."""
    firsts: list[Slot] = []
    seen: set[dt.date] = set()
    for slot in slots:
        if slot.start.date() not in seen:
            seen.add(slot.start.date())
            firsts.append(slot)
    rest = [slot for slot in slots if slot not in firsts]
    return sorted((firsts + rest)[:limit], key=lambda slot: slot.start)


class SlotQuery(BaseModel):
    fromDate: str | None = Field(default=None, description="First day to look at, ISO date in Japan time, e.g. 2026-12-07 (default: today)")
    days: int = Field(default=7, ge=1, le=31, description="How many days from fromDate to look at")
    limit: int = Field(default=3, ge=1, le=10, description="How many slots to offer")

    @field_validator("fromDate")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                day = dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError("use an ISO date such as 2026-12-07") from None
            if day > japan_now().date() + HORIZON:
                raise ValueError("at most a year ahead")
        return value


class MeetingRequest(BaseModel):
    slotId: str = Field(description="The slot_id of a slot from find_free_slots that the other party chose, e.g. 2026-12-07T10:00")
    name: str = Field(min_length=1, max_length=100, description="The name the meeting is booked under")
    company: str = Field(default="", max_length=100, description="The other party's company, if known")

    def start(self) -> dt.datetime:
        try:
            start = dt.datetime.fromisoformat(self.slotId.strip()).replace(tzinfo=None)
        except ValueError:
            start = None
        now = japan_now()
        if start is None or not now - dt.timedelta(days=1) <= start <= now + HORIZON:
            raise ToolError(f"'{self.slotId}' is not a slot_id. Use a slot_id from find_free_slots.", code="unknown_slot")
        return start


def register_calendar_tools(registry: ToolRegistry, calendar: Calendar | None = None) -> None:
    """``calendar``: the deployment's calendar; ``None``: the store's appointment book of the calling session."""

    def calendar_of(ctx: ToolContext) -> Calendar:
        return calendar if calendar is not None else StoreCalendar(ctx.store)

    @registry.function(SlotQuery)
    async def find_free_slots(args: SlotQuery, ctx: ToolContext) -> ToolResult:
        """Free meeting slots of the calendar, with each slot's slot_id and how to read its date and time aloud."""
        first = dt.date.fromisoformat(args.fromDate.strip()) if args.fromDate else japan_now().date()
        start = dt.datetime.combine(first, dt.time())
        slots = offered(await calendar_of(ctx).free_slots(start, start + dt.timedelta(days=args.days)), args.limit)
        if not slots:
            return ToolResult({"found": False, "searched_from_spoken": readings.read_date(first), "days": args.days})
        return ToolResult(
            {
                "found": True,
                "slots": [{"slot_id": s.slot_id, "spoken": spoken(s), "written": written(s)} for s in slots],
                "minutes": int((slots[0].end - slots[0].start).total_seconds() // 60),
            },
            next_step="propose",
        )

    @registry.function(MeetingRequest)
    async def book_meeting(args: MeetingRequest, ctx: ToolContext) -> ToolResult:
        """Book the chosen slot once the other party has agreed to the date, time and name."""
        variables = {k: v for k, v in {"company": args.company, "phone": ctx.caller, "channel": ctx.channel}.items() if v}
        start = args.start()
        try:
            booking = await calendar_of(ctx).book(Slot.starting(start), args.name, variables, ctx.session_id)
        except SlotTaken:
            raise ToolError(
                "That slot was booked by someone else a moment ago. Apologise, call find_free_slots again and offer other slots.",
                code="slot_taken",
            ) from None
        except UnknownSlot as exc:
            raise ToolError(f"{exc}. Offer only slots from find_free_slots.", code="unknown_slot") from None
        return ToolResult(
            {
                "booking_id": booking.id,
                "meeting_spoken": spoken(booking.slot),
                "meeting_written": written(booking.slot),
                "ics": ics_path(booking.id),
            },
            next_step="close",
        )
