"""Campaigns in the store: a campaign's settings and state, and each row of its call list with its status, attempts,
next attempt, call and outcome. Everything a runner decides is written here first, so a gateway that stops half-way
resumes where it was: a row is claimed by one conditional UPDATE that also writes the attempt's call id before the
carrier is asked (never dialled twice), a number already being called in any campaign is refused by the primary key
of ``live_numbers`` in the same transaction (never called twice at once, on SQLite and PostgreSQL alike), and a lease
names the one process that dials a campaign when several workers share the store."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import schema
from .store import Store, utcnow

PENDING, CALLING, DONE, INVALID = "pending", "calling", "done", "invalid"
RUNNING, PAUSED, FINISHED = "running", "paused", "done"
PAGE_DEFAULT, PAGE_MAX = 100, 1000  # rows per page the API serves (default, largest)


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    name: str
    agent: str
    carrier: str
    concurrency: int
    retries: int
    retry_delay_s: float
    hours: str | None  # "HH:MM-HH:MM"; None: any time
    days: str = "mon-fri"
    tz: str = "Asia/Tokyo"


@dataclass(frozen=True, slots=True)
class NewRow:
    line: int
    to: str
    name: str = ""
    variables: dict[str, str] | None = None
    invalid_reason: str | None = None  # a bad row: stored to be reported, never dialled


@dataclass(frozen=True, slots=True)
class DueRow:
    line: int
    to: str
    variables: dict[str, str]
    attempts: int


class _NotPending(Exception):
    """The row was no longer pending: the claim's transaction is rolled back (its live number with it)."""


class CampaignRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, spec: CampaignSpec, rows: list[NewRow]) -> str:
        campaign_id = f"cmp-{uuid.uuid4().hex[:12]}"
        now = utcnow()
        async with self.store.engine.begin() as conn:
            await conn.execute(
                insert(schema.campaigns).values(
                    id=campaign_id, name=spec.name, agent=spec.agent, carrier=spec.carrier, concurrency=spec.concurrency,
                    retries=spec.retries, retry_delay_s=spec.retry_delay_s, hours=spec.hours, days=spec.days, tz=spec.tz,
                    status=RUNNING, created_at=now, updated_at=now,
                )
            )
            if rows:
                await conn.execute(
                    insert(schema.campaign_rows),
                    [
                        {
                            "campaign_id": campaign_id, "line": r.line, "to_number": r.to[:32], "name": r.name[:128],
                            "variables": json.dumps(r.variables or {}, ensure_ascii=False),
                            "status": INVALID if r.invalid_reason else PENDING,
                            "outcome": "invalid" if r.invalid_reason else None, "attempts": 0,
                            "reason": r.invalid_reason or "", "updated_at": now,
                        }
                        for r in rows
                    ],
                )
        return campaign_id

    # --- the runner's side ---------------------------------------------------------------------------------------
    async def running_ids(self) -> list[str]:
        c = schema.campaigns.c
        async with self.store.engine.connect() as conn:
            return [r.id for r in await conn.execute(select(c.id).where(c.status != FINISHED).order_by(c.created_at))]

    async def take_lease(self, campaign_id: str, runner: str, seconds: float) -> bool:
        """True when ``runner`` may dial this campaign for the next ``seconds`` (it held the lease, or nobody did, or
        the holder stopped renewing it)."""
        c = schema.campaigns.c
        now = utcnow()
        async with self.store.engine.begin() as conn:
            won = await conn.execute(
                update(schema.campaigns)
                .where(c.id == campaign_id, or_(c.runner.is_(None), c.runner == runner, c.lease_until < now))
                .values(runner=runner, lease_until=now + dt.timedelta(seconds=seconds))
            )
            return won.rowcount == 1

    async def release_lease(self, campaign_id: str, runner: str) -> None:
        c = schema.campaigns.c
        async with self.store.engine.begin() as conn:
            await conn.execute(update(schema.campaigns).where(c.id == campaign_id, c.runner == runner).values(runner=None, lease_until=None))

    async def status(self, campaign_id: str) -> str | None:
        c = schema.campaigns.c
        async with self.store.engine.connect() as conn:
            return (await conn.execute(select(c.status).where(c.id == campaign_id))).scalar_one_or_none()

    async def set_status(self, campaign_id: str, status: str, *, unless: str = FINISHED) -> bool:
        """Pause or resume (a finished campaign stays finished); False: no such campaign, or it was ``unless``."""
        c = schema.campaigns.c
        async with self.store.engine.begin() as conn:
            changed = await conn.execute(
                update(schema.campaigns).where(c.id == campaign_id, c.status != unless).values(status=status, updated_at=utcnow())
            )
            return changed.rowcount == 1

    async def due(self, campaign_id: str, limit: int) -> list[DueRow]:
        """Rows waiting to be dialled whose next attempt is due, in list order."""
        r = schema.campaign_rows.c
        now = utcnow()
        query = (
            select(r.line, r.to_number, r.variables, r.attempts)
            .where(r.campaign_id == campaign_id, r.status == PENDING, or_(r.next_attempt_at.is_(None), r.next_attempt_at <= now))
            .order_by(r.line)
            .limit(max(0, limit))
        )
        async with self.store.engine.connect() as conn:
            return [DueRow(x.line, x.to_number, json.loads(x.variables or "{}"), x.attempts) for x in await conn.execute(query)]

    async def next_due_at(self, campaign_id: str) -> dt.datetime | None:
        r = schema.campaign_rows.c
        async with self.store.engine.connect() as conn:
            value = (
                await conn.execute(select(func.min(r.next_attempt_at)).where(r.campaign_id == campaign_id, r.status == PENDING))
            ).scalar_one_or_none()
        return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)

    async def claim(self, campaign_id: str, line: int, to: str, call_id: str) -> bool:
        """Mark the row as being called with the attempt's ``call_id`` (written before the carrier is asked, so a
        process that stops mid-dial leaves its intent behind), once: False when the row is no longer pending or its
        number is being called (by this campaign or another) right now, which the database itself refuses."""
        r = schema.campaign_rows.c
        now = utcnow()
        try:
            async with self.store.engine.begin() as conn:
                await conn.execute(insert(schema.live_numbers).values(to_number=to, campaign_id=campaign_id, line=line, since=now))
                won = await conn.execute(
                    update(schema.campaign_rows)
                    .where(r.campaign_id == campaign_id, r.line == line, r.status == PENDING)
                    .values(status=CALLING, attempts=r.attempts + 1, call_id=call_id, updated_at=now)
                )
                if won.rowcount != 1:
                    raise _NotPending
        except (IntegrityError, _NotPending):  # the number is live (primary key), or the row was taken: rolled back
            return False
        return True

    async def unclaim(self, campaign_id: str, line: int, retry_at: dt.datetime, reason: str) -> None:
        """Not dialled after all (the gateway was at capacity): back to pending, the attempt not counted."""
        r = schema.campaign_rows.c
        await self._release(
            campaign_id, line, r.status == CALLING,
            status=PENDING, attempts=r.attempts - 1, call_id=None, next_attempt_at=retry_at, reason=reason[:500],
        )

    async def finish(
        self, campaign_id: str, line: int, outcome: str, *, duration_s: float | None, reason: str, retry_at: dt.datetime | None,
        placed: bool = True,
    ) -> None:
        """The attempt's outcome; ``retry_at``: the row is dialled again then, else it is done; ``placed`` False: no
        call was placed (the carrier refused up front), so the row keeps no call id."""
        extra = {} if placed else {"call_id": None}
        await self._release(
            campaign_id, line, None, status=PENDING if retry_at else DONE, outcome=outcome, duration_s=duration_s,
            reason=reason[:500], next_attempt_at=retry_at, **extra,
        )

    async def _release(self, campaign_id: str, line: int, where: Any, **values: Any) -> None:
        """The row's new state and its number no longer live, in one transaction."""
        r, live = schema.campaign_rows.c, schema.live_numbers.c
        query = update(schema.campaign_rows).where(r.campaign_id == campaign_id, r.line == line)
        if where is not None:
            query = query.where(where)
        async with self.store.engine.begin() as conn:
            await conn.execute(query.values(updated_at=utcnow(), **values))
            await conn.execute(delete(schema.live_numbers).where(live.campaign_id == campaign_id, live.line == line))

    async def in_flight(self, campaign_id: str) -> list[tuple[int, str | None, int]]:
        """(line, call id, attempts) of rows marked as being called: after a restart, calls the stopped process placed."""
        r = schema.campaign_rows.c
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(r.line, r.call_id, r.attempts).where(r.campaign_id == campaign_id, r.status == CALLING))
            return [(x.line, x.call_id, x.attempts) for x in rows]

    async def close_if_complete(self, campaign_id: str) -> bool:
        """Mark the campaign done when no row is left to dial or being dialled."""
        c, r = schema.campaigns.c, schema.campaign_rows.c
        left = select(r.line).where(r.campaign_id == campaign_id, r.status.in_((PENDING, CALLING))).exists()
        async with self.store.engine.begin() as conn:
            closed = await conn.execute(
                update(schema.campaigns).where(c.id == campaign_id, c.status == RUNNING, ~left).values(status=FINISHED, updated_at=utcnow())
            )
            return closed.rowcount == 1

    # --- what the console and the CLI read ----------------------------------------------------------------------
    async def spec(self, campaign_id: str) -> CampaignSpec | None:
        c = schema.campaigns.c
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(schema.campaigns).where(c.id == campaign_id))).first()
        if row is None:
            return None
        return CampaignSpec(row.name, row.agent, row.carrier, row.concurrency, row.retries, row.retry_delay_s, row.hours, row.days, row.tz)

    async def summary(self, campaign_id: str) -> dict[str, Any] | None:
        found = await self._summaries(schema.campaigns.c.id == campaign_id)
        return found[0] if found else None

    async def list(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self._summaries(None, limit)

    async def rows(self, campaign_id: str, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Rows in list order from ``offset`` (at most ``limit``; None: every one), with the call's summary (written
        after the call, so read from its conversation)."""
        r, conv = schema.campaign_rows.c, schema.conversations.c
        query = (
            select(schema.campaign_rows, conv.summary)
            .select_from(schema.campaign_rows.outerjoin(schema.conversations, conv.id == r.call_id))
            .where(r.campaign_id == campaign_id)
            .order_by(r.line)
            .offset(max(0, offset))
            .limit(limit)
        )
        async with self.store.engine.connect() as conn:
            return [
                {
                    "line": x.line, "to": x.to_number, "name": x.name, "status": x.status, "outcome": x.outcome,
                    "attempts": x.attempts, "next_attempt_at": _iso(x.next_attempt_at), "call_id": x.call_id,
                    "duration_s": x.duration_s, "summary": x.summary, "reason": x.reason,
                }
                for x in await conn.execute(query)
            ]

    async def _summaries(self, where: Any, limit: int = 50) -> list[dict[str, Any]]:
        c, r = schema.campaigns.c, schema.campaign_rows.c
        query = select(schema.campaigns).order_by(c.created_at.desc()).limit(max(1, min(limit, 500)))
        if where is not None:
            query = query.where(where)
        dialled = r.attempts > 0
        async with self.store.engine.connect() as conn:
            campaigns = list(await conn.execute(query))
            ids = [x.id for x in campaigns]
            counts = await conn.execute(
                select(r.campaign_id, r.status, r.outcome, dialled.label("dialled"), func.count().label("n"))
                .where(r.campaign_id.in_(ids))
                .group_by(r.campaign_id, r.status, r.outcome, dialled)
            )
            tallies: dict[str, dict[str, Counter[str]]] = {i: {"status": Counter(), "outcome": Counter(), "dialled": Counter()} for i in ids}
            for row in counts:
                tally = tallies[row.campaign_id]
                tally["status"][row.status] += row.n
                if row.status == DONE and row.outcome:
                    tally["outcome"][row.outcome] += row.n
                if row.dialled:
                    tally["dialled"]["rows"] += row.n
        return [_summary(x, tallies[x.id]) for x in campaigns]


def _summary(row: Any, tally: dict[str, Counter[str]]) -> dict[str, Any]:
    status = tally["status"]
    return {
        "id": row.id, "name": row.name, "agent": row.agent, "carrier": row.carrier, "status": row.status,
        "concurrency": row.concurrency, "retries": row.retries, "retry_delay_s": row.retry_delay_s,
        "hours": row.hours, "days": row.days, "tz": row.tz,
        "total": sum(status.values()), "invalid": status[INVALID], "pending": status[PENDING], "dialled": tally["dialled"]["rows"],
        "live": status[CALLING], "done": status[DONE], "outcomes": dict(tally["outcome"]),
        "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()

