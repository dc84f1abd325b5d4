"""The default calendar: the gateway's own appointment book in its store (SQLite or PostgreSQL).

Slots are a fixed grid inside opening hours (weekdays, 10:00-12:00 and 13:00-17:00, 30 minutes by default). A
booking inserts the appointment and its hold in one transaction; the hold's primary key (the slot's start) is what
refuses a double booking, in whichever process or replica the second one is attempted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..japan_time import japan_now
from ..store import Store, schema
from ..store.store import utcnow
from .calendar import Booking, Slot, SlotTaken, UnknownSlot

logger = logging.getLogger(__name__)
MAX_RANGE = dt.timedelta(days=31)


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """When the book offers slots: ``periods`` on ``weekdays`` (0 = Monday), cut into ``slot_minutes``; nothing
    that starts sooner than ``lead_minutes`` from now."""

    periods: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(10), dt.time(12)), (dt.time(13), dt.time(17)))
    weekdays: frozenset[int] = frozenset(range(5))
    slot_minutes: int = 30
    lead_minutes: int = 60

    def grid(self, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> list[Slot]:
        """Every slot of the grid that starts within [start, end) and not before now + the lead time."""
        earliest = max(start, now + dt.timedelta(minutes=self.lead_minutes))
        length = dt.timedelta(minutes=self.slot_minutes)
        slots: list[Slot] = []
        day = start.date()
        while dt.datetime.combine(day, dt.time()) < end:
            if day.weekday() in self.weekdays:
                for opens, closes in self.periods:
                    moment, closing = dt.datetime.combine(day, opens), dt.datetime.combine(day, closes)
                    while moment + length <= closing:
                        if earliest <= moment < end:
                            slots.append(Slot(moment, moment + length))
                        moment += length
            day += dt.timedelta(days=1)
        return slots


class StoreCalendar:
    """``Calendar`` over the store's ``appointments`` and ``appointment_holds`` tables."""

    def __init__(self, store: Store, hours: OpeningHours | None = None, now: Callable[[], dt.datetime] = japan_now) -> None:
        self.store = store
        self.hours = hours or OpeningHours()
        self.now = now

    async def free_slots(self, start: dt.datetime, end: dt.datetime) -> list[Slot]:
        end = min(end, start + MAX_RANGE)
        grid = self.hours.grid(start, end, self.now())
        if not grid:
            return []
        holds = schema.appointment_holds.c
        query = select(holds.start_at).where(holds.start_at >= grid[0].start, holds.start_at <= grid[-1].start)
        async with self.store.engine.connect() as conn:
            taken = {row.start_at for row in await conn.execute(query)}
        return [slot for slot in grid if slot.start not in taken]

    def slot_at(self, start: dt.datetime) -> Slot:
        """The grid's slot starting at ``start``; ``UnknownSlot`` when there is none (or it has passed)."""
        day = dt.datetime.combine(start.date(), dt.time())
        for slot in self.hours.grid(day, day + dt.timedelta(days=1), self.now()):
            if slot.start == start:
                return slot
        raise UnknownSlot(f"{start.isoformat(timespec='minutes')} is not a bookable slot (hours, grid or already past)")

    async def book(self, slot: Slot, who: str, variables: dict[str, str], conversation_id: str | None = None) -> Booking:
        slot = self.slot_at(slot.start)
        booking = Booking(
            id=f"M-{secrets.token_hex(4).upper()}", slot=slot, who=who, variables=dict(variables),
            conversation_id=conversation_id, stamp=utcnow(),
        )
        try:
            async with self.store.engine.begin() as conn:
                await conn.execute(
                    insert(schema.appointments).values(
                        id=booking.id, start_at=slot.start, end_at=slot.end, who=who,
                        variables=json.dumps(booking.variables, ensure_ascii=False), conversation_id=conversation_id,
                        status="booked", stamp=booking.stamp,
                    )
                )
                await conn.execute(insert(schema.appointment_holds).values(start_at=slot.start, appointment_id=booking.id))
        except IntegrityError:
            logger.info("slot %s was taken first by another booking", slot.slot_id)
            raise SlotTaken(f"{slot.slot_id} is already booked") from None
        return booking

    async def cancel(self, booking_id: str) -> Booking | None:
        table = schema.appointments
        async with self.store.engine.begin() as conn:
            await conn.execute(delete(schema.appointment_holds).where(schema.appointment_holds.c.appointment_id == booking_id))
            await conn.execute(
                update(table).where(table.c.id == booking_id, table.c.status == "booked").values(status="cancelled", stamp=utcnow())
            )
        return await self.booking(booking_id)  # None: no such booking

    async def booking(self, booking_id: str) -> Booking | None:
        table = schema.appointments
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.id == booking_id))).first()
        return _booking(row) if row is not None else None

    async def bookings_of(self, conversation_id: str) -> list[Booking]:
        table = schema.appointments
        query = select(table).where(table.c.conversation_id == conversation_id).order_by(table.c.start_at)
        async with self.store.engine.connect() as conn:
            return [_booking(row) for row in await conn.execute(query)]


def _booking(row: object) -> Booking:
    stamp = row.stamp  # type: ignore[attr-defined]
    return Booking(
        id=row.id,  # type: ignore[attr-defined]
        slot=Slot(row.start_at, row.end_at),  # type: ignore[attr-defined]
        who=row.who,  # type: ignore[attr-defined]
        variables=json.loads(row.variables or "{}"),  # type: ignore[attr-defined]
        conversation_id=row.conversation_id,  # type: ignore[attr-defined]
        status=row.status,  # type: ignore[attr-defined]
        stamp=stamp if stamp is None or stamp.tzinfo else stamp.replace(tzinfo=dt.UTC),
    )
