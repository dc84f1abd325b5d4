"""The record of outbound calls: one row per call placed, its carrier's progress and its outcome."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import insert, select, update

from . import schema
from .store import Store, utcnow


class OutboundRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, call_id: str, carrier: str, to_number: str, agent: str) -> None:
        now = utcnow()
        async with self.store.engine.begin() as conn:
            await conn.execute(
                insert(schema.outbound_calls).values(
                    id=call_id, carrier=carrier, to_number=to_number, agent=agent, status="dialling",
                    detail="", progress=json.dumps([[now.isoformat(), "dialling"]]), sms="pending", created_at=now,
                    updated_at=now,
                )
            )

    async def progress(self, call_id: str, status: str, detail: str = "", carrier_call_id: str | None = None) -> None:
        """Append ``status`` to the call's progress and make it the current one (``detail``: the carrier's reason)."""
        table = schema.outbound_calls
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(table.c.progress).where(table.c.id == call_id))).first()
            if row is None:
                return
            now = utcnow()
            steps = json.loads(row.progress or "[]") + [[now.isoformat(), status]]
            values: dict[str, Any] = {"status": status, "progress": json.dumps(steps), "updated_at": now}
            if detail:
                values["detail"] = detail[:500]
            if carrier_call_id:
                values["carrier_call_id"] = carrier_call_id
            await conn.execute(update(table).where(table.c.id == call_id).values(**values))

    async def sms_decided(self, call_id: str, decision: str) -> None:
        """What became of the SMS after the call: ``sent``, ``not_due`` (its condition did not hold), ``failed``,
        ``none`` (the profile has none)."""
        async with self.store.engine.begin() as conn:
            table = schema.outbound_calls
            await conn.execute(update(table).where(table.c.id == call_id).values(sms=decision, updated_at=utcnow()))

    async def get(self, call_id: str) -> dict[str, Any] | None:
        table = schema.outbound_calls
        async with self.store.engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.id == call_id))).first()
        if row is None:
            return None
        progress = json.loads(row.progress or "[]")
        return {
            "id": row.id,
            "done": row.sms != "pending",  # ended, and what follows the end (the SMS decision) is done
            "duration_s": _talk_seconds(progress),
            "carrier": row.carrier,
            "to": row.to_number,
            "agent": row.agent,
            "status": row.status,
            "carrier_call_id": row.carrier_call_id,
            "detail": row.detail,
            "sms_after_call": row.sms,
            "progress": [{"at": at, "status": status} for at, status in progress],
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
        }


def _talk_seconds(progress: list[list[str]]) -> float | None:
    """Seconds from the answer (``in-progress``) to the last step; ``None`` for a call never answered."""
    answered = next((at for at, status in progress if status == "in-progress"), None)
    if answered is None or not progress:
        return None
    return round((dt.datetime.fromisoformat(progress[-1][0]) - dt.datetime.fromisoformat(answered)).total_seconds(), 1)


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
