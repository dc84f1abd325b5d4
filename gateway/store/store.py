"""The embedded store (SQLite by default, PostgreSQL through the same URL): conversations and demo business data.

Conversation writes arrive through ``StoreWriter`` (a queue), never from the audio path; tools call the business
methods directly since a tool call is already off the audio path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import and_, event, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import schema
from .seed import seed_demo_data

logger = logging.getLogger(__name__)


MAX_BOOKING = dt.timedelta(days=90)
MAX_BOOKING_ATTEMPTS = 8


class ReservationConflict(Exception):
    """No vehicle of the requested kind is free for the requested time."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _from_epoch(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def open(self) -> None:
        """Create the tables and seed the demo data on first start. Several workers may start at once on a fresh
        database: the one that loses the race to create or seed finds the work done on its next attempt."""
        for attempt in range(3):
            try:
                async with self.engine.begin() as conn:
                    await conn.run_sync(schema.metadata.create_all)
                    empty = (await conn.execute(select(func.count()).select_from(schema.locations))).scalar_one() == 0
                    if empty:
                        await seed_demo_data(conn)
                        logger.info("seeded demo business data")
                return
            except (OperationalError, IntegrityError, ProgrammingError):
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
            return True
        except Exception:  # any driver error means "not ready"
            logger.warning("store ping failed", exc_info=True)
            return False

    # --- conversations -------------------------------------------------------------------------------------------
    async def start_conversation(
        self, conversation_id: str, channel: str, agent: str, caller: str, started_at: float, continued_from: str | None = None
    ) -> None:
        async with self.engine.begin() as conn:
            exists = select(schema.conversations.c.id).where(schema.conversations.c.id == conversation_id)
            if (await conn.execute(exists)).first() is not None:
                return  # another worker of this deployment already opened it (its callbacks and media split)
            await conn.execute(
                insert(schema.conversations).values(
                    id=conversation_id,
                    channel=channel,
                    agent=agent,
                    caller=caller,
                    started_at=_from_epoch(started_at),
                    continued_from=continued_from,
                )
            )

    async def end_conversation(self, conversation_id: str, outcome: str, ended_at: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(schema.conversations)
                .where(schema.conversations.c.id == conversation_id)
                .values(ended_at=_from_epoch(ended_at), outcome=outcome)
            )

    async def set_summary(self, conversation_id: str, summary: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(schema.conversations).where(schema.conversations.c.id == conversation_id).values(summary=summary)
            )

    async def add_turn(self, conversation_id: str, role: str, text_: str, at: float) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(schema.turns).values(conversation_id=conversation_id, role=role, text=text_, at=_from_epoch(at))
            )

    async def amend_turn(self, conversation_id: str, role: str, original: str, text_: str) -> None:
        """Replace the text of the latest ``role`` turn that reads ``original`` (a turn the caller cut off)."""
        turns = schema.turns.c
        latest = (
            select(func.max(turns.id))
            .where(turns.conversation_id == conversation_id, turns.role == role, turns.text == original)
            .scalar_subquery()
        )
        async with self.engine.begin() as conn:
            await conn.execute(update(schema.turns).where(turns.id == latest).values(text=text_))

    async def add_tool_call(
        self, conversation_id: str, call_id: str, name: str, arguments: str, result: str, ok: bool, duration_ms: float
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(schema.tool_calls).values(
                    conversation_id=conversation_id,
                    call_id=call_id,
                    name=name,
                    arguments=arguments,
                    result=result,
                    ok=ok,
                    duration_ms=duration_ms,
                    at=utcnow(),
                )
            )

    async def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        c = schema.conversations
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(c).where(c.c.id == conversation_id))).mappings().first()
            if row is None:
                return None
            turns = (
                await conn.execute(
                    select(schema.turns).where(schema.turns.c.conversation_id == conversation_id).order_by(schema.turns.c.id)
                )
            ).mappings()
            calls = (
                await conn.execute(
                    select(schema.tool_calls)
                    .where(schema.tool_calls.c.conversation_id == conversation_id)
                    .order_by(schema.tool_calls.c.id)
                )
            ).mappings()
            result = _conversation_dict(row)
            result["turns"] = [{"role": t["role"], "text": t["text"], "at": _iso(t["at"])} for t in turns]
            result["tool_calls"] = [
                {
                    "call_id": t["call_id"],
                    "name": t["name"],
                    "arguments": t["arguments"],
                    "result": t["result"],
                    "ok": t["ok"],
                    "duration_ms": t["duration_ms"],
                }
                for t in calls
            ]
            return result

    async def search_conversations(
        self,
        *,
        q: str | None = None,
        caller: str | None = None,
        agent: str | None = None,
        channel: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        ended_only: bool = True,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        table = schema.conversations
        c = table.c
        query = select(table).order_by(c.started_at.desc()).limit(max(1, min(limit, 500)))
        conditions = []
        if ended_only:
            conditions.append(c.ended_at.is_not(None))
        if caller:
            conditions.append(c.caller.contains(caller, autoescape=True))
        if agent:
            conditions.append(c.agent == agent)
        if channel:
            conditions.append(c.channel == channel)
        if since:
            conditions.append(c.started_at >= since)
        if until:
            conditions.append(c.started_at < until)
        if q:
            in_turns = select(schema.turns.c.conversation_id).where(schema.turns.c.text.contains(q, autoescape=True))
            conditions.append(or_(c.id.in_(in_turns), c.summary.contains(q, autoescape=True)))
        if conditions:
            query = query.where(and_(*conditions))
        async with self.engine.connect() as conn:
            return [_conversation_dict(row) for row in (await conn.execute(query)).mappings()]

    async def transcript(self, conversation_id: str) -> list[tuple[str, str]]:
        t = schema.turns
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.c.role, t.c.text).where(t.c.conversation_id == conversation_id).order_by(t.c.id))
            return [(r.role, r.text) for r in rows]

    # --- handoffs between channels ------------------------------------------------------------------------------
    async def save_handoff(self, code: str, conversation_id: str, expires_at: dt.datetime) -> bool:
        """False when the code is taken (the caller picks another)."""
        h = schema.handoffs
        async with self.engine.begin() as conn:
            await conn.execute(h.delete().where(h.c.expires_at < utcnow()))
            if (await conn.execute(select(h.c.code).where(h.c.code == code))).first() is not None:
                return False
            await conn.execute(insert(h).values(code=code, conversation_id=conversation_id, expires_at=expires_at))
            return True

    async def claim_handoff(self, code: str, claimed_by: str) -> str | None:
        """The conversation a code continues, once: a code is single-use and short-lived.

        The claim is one conditional UPDATE (``claimed_by IS NULL``): of any number of claimants, in any number of
        processes, exactly one sees its row count be 1; the others get None.
        """
        h = schema.handoffs
        async with self.engine.begin() as conn:
            won = await conn.execute(
                update(h)
                .where(h.c.code == code, h.c.claimed_by.is_(None), h.c.expires_at > utcnow())
                .values(claimed_by=claimed_by)
            )
            if won.rowcount != 1:
                return None
            source = (await conn.execute(select(h.c.conversation_id).where(h.c.code == code))).scalar_one()
            await conn.execute(
                update(schema.conversations).where(schema.conversations.c.id == claimed_by).values(continued_from=source)
            )
            return str(source)

    async def tool_results(self, conversation_id: str) -> list[tuple[str, str, str]]:
        t = schema.tool_calls
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(t.c.name, t.c.arguments, t.c.result).where(t.c.conversation_id == conversation_id).order_by(t.c.id)
            )
            return [(r.name, r.arguments, r.result) for r in rows]

    # --- demo business data ----------------------------------------------------------------------------------------
    async def find_customer(self, phone_digits: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(schema.customers).where(schema.customers.c.phone == phone_digits))
            ).mappings().first()
            return dict(row) if row else None

    async def list_locations(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(schema.locations).order_by(schema.locations.c.id))).mappings()
            return [dict(r) for r in rows]

    async def free_vehicles(
        self, location_id: str, start: dt.datetime, end: dt.datetime, vehicle_type: str | None = None
    ) -> list[dict[str, Any]]:
        v, r = schema.vehicles, schema.reservations
        busy = select(r.c.vehicle_id).where(and_(r.c.start_at < end, r.c.end_at > start))
        query = select(v).where(v.c.location_id == location_id, v.c.id.not_in(busy)).order_by(v.c.daily_rate, v.c.id)
        if vehicle_type:
            query = query.where(v.c.vehicle_type == vehicle_type)
        async with self.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(query)).mappings()]

    async def location(self, location_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(schema.locations).where(schema.locations.c.id == location_id))
            ).mappings().first()
            return dict(row) if row else None

    async def create_reservation(
        self,
        location_id: str,
        start: dt.datetime,
        end: dt.datetime,
        customer_name: str,
        vehicle_type: str | None,
        conversation_id: str | None,
    ) -> dict[str, Any]:
        """Book the cheapest free vehicle. The database decides: the reservation and its hour slots are inserted in
        one transaction, and the slots' primary key refuses a second booking of the same vehicle and hour from any
        process; the reservation number's primary key refuses a number another booking took first."""
        slots = booked_hours(start, end)
        for _attempt in range(MAX_BOOKING_ATTEMPTS):
            free = await self.free_vehicles(location_id, start, end, vehicle_type)
            if not free:
                raise ReservationConflict("no vehicle of that type is free at that location for that time")
            vehicle = free[0]
            async with self.engine.connect() as conn:  # read outside the writing transaction (no lock upgrade)
                count = (await conn.execute(select(func.count()).select_from(schema.reservations))).scalar_one()
            number = f"R-{count + 1:04d}"
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        insert(schema.reservations).values(
                            number=number,
                            vehicle_id=vehicle["id"],
                            location_id=location_id,
                            start_at=start,
                            end_at=end,
                            customer_name=customer_name,
                            vehicle_type=vehicle["vehicle_type"],
                            conversation_id=conversation_id,
                            created_at=utcnow(),
                        )
                    )
                    await conn.execute(
                        insert(schema.reservation_slots),
                        [{"vehicle_id": vehicle["id"], "slot_start": slot, "reservation_number": number} for slot in slots],
                    )
            except IntegrityError:  # another booking won the number or the vehicle: look again
                logger.info("booking %s raced another one; trying again", number)
                continue
            return {"reservation_number": number, "vehicle": vehicle}
        raise ReservationConflict("the booking kept racing others; please try again")

    async def reservation(self, number: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(schema.reservations).where(schema.reservations.c.number == number))
            ).mappings().first()
            return dict(row) if row else None

    async def find_driver(self, vehicle_number: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(schema.drivers).where(schema.drivers.c.vehicle_number == vehicle_number))
            ).mappings().first()
            return dict(row) if row else None

    async def driver_stops(self, vehicle_number: str, day_offset: int) -> list[dict[str, Any]]:
        s = schema.driver_stops
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(s).where(s.c.vehicle_number == vehicle_number, s.c.day_offset == day_offset).order_by(s.c.seq)
            )
            return [dict(r) for r in rows.mappings()]


def booked_hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The whole hours a booking from ``start`` to ``end`` occupies (a started hour counts)."""
    if end <= start:
        raise ValueError("a booking ends after it starts")
    if end - start > MAX_BOOKING:
        raise ValueError(f"a booking is at most {MAX_BOOKING.days} days")
    hour = start.replace(minute=0, second=0, microsecond=0)
    slots = []
    while hour < end:
        slots.append(hour)
        hour += dt.timedelta(hours=1)
    return slots


def _conversation_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "channel": row["channel"],
        "agent": row["agent"],
        "caller": row["caller"],
        "started_at": _iso(row["started_at"]),
        "ended_at": _iso(row["ended_at"]),
        "outcome": row["outcome"],
        "summary": row["summary"],
        "continued_from": row["continued_from"],
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
