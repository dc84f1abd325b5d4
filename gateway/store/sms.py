"""The record of SMS sent after calls (one row per message, its delivery status as the carrier reports it), and
what the condition of sending reads: the outputs of a tool that succeeded in the conversation.

A delivery report can arrive before the carrier's answer to the send (which names the message) is written: it is
kept aside (``sms_early_reports``) and applied when the message's id is written. Each side writes first and then
looks for the other, so whichever comes second applies the report; applying it twice is harmless."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import schema
from .store import Store, utcnow

FINAL = frozenset({"delivered", "failed", "undelivered"})
EARLY_KEPT = dt.timedelta(days=1)  # an early report whose message never shows up (not ours) is dropped after this


class SmsRecords:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def create(self, conversation_id: str, carrier: str, to_number: str, text: str) -> int:
        async with self.store.engine.begin() as conn:
            result = await conn.execute(
                insert(schema.sms_messages).values(
                    conversation_id=conversation_id, carrier=carrier, to_number=to_number, text=text,
                    status="sending", detail="", updated_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])

    async def sent(self, row_id: int, message_id: str, status: str, detail: str = "") -> None:
        async with self.store.engine.begin() as conn:
            values = {"message_id": message_id, "status": status, "detail": detail[:500], "updated_at": utcnow()}
            await conn.execute(update(schema.sms_messages).where(schema.sms_messages.c.id == row_id).values(**values))
        if message_id:
            await self._apply_early(message_id)

    async def delivery(self, message_id: str, status: str, detail: str = "") -> bool:
        """A delivery report; a final status is never overwritten by a late, earlier one. False: no message has this
        id yet (kept aside for a while, in case the send's answer is still being written)."""
        if await self._apply(message_id, status, detail):
            return True
        early = schema.sms_early_reports
        now = utcnow()
        values = {"status": status, "detail": detail[:500], "received_at": now}
        try:
            async with self.store.engine.begin() as conn:
                await conn.execute(delete(early).where(early.c.received_at < now - EARLY_KEPT))
                kept = await conn.execute(update(early).where(early.c.message_id == message_id).values(**values))
                if kept.rowcount == 0:
                    await conn.execute(insert(early).values(message_id=message_id, **values))
        except IntegrityError:  # another report for the same message was kept at the same moment: that one stands
            pass
        return await self._apply_early(message_id)

    async def _apply(self, message_id: str, status: str, detail: str) -> bool:
        table = schema.sms_messages
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(table.c.id, table.c.status).where(table.c.message_id == message_id))).first()
            if row is None:
                return False
            if row.status not in FINAL:
                values = {"status": status, "detail": detail[:500], "updated_at": utcnow()}
                await conn.execute(update(table).where(table.c.id == row.id).values(**values))
            return True

    async def _apply_early(self, message_id: str) -> bool:
        """Apply the report kept aside for ``message_id``, once its message is known; True when it was applied."""
        early = schema.sms_early_reports
        async with self.store.engine.connect() as conn:
            kept = (await conn.execute(select(early.c.status, early.c.detail).where(early.c.message_id == message_id))).first()
        if kept is None or not await self._apply(message_id, kept.status, kept.detail):
            return False
        async with self.store.engine.begin() as conn:
            await conn.execute(delete(early).where(early.c.message_id == message_id))
        return True

    async def of_conversation(self, conversation_id: str) -> list[dict[str, Any]]:
        table = schema.sms_messages
        async with self.store.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.conversation_id == conversation_id).order_by(table.c.id))
            return [
                {"carrier": r.carrier, "to": r.to_number, "text": r.text, "message_id": r.message_id, "status": r.status, "detail": r.detail}
                for r in rows
            ]

    async def tool_outputs(self, conversation_id: str, tool: str) -> list[dict[str, Any]]:
        """The outputs (JSON objects) of every successful call of ``tool`` in the conversation, oldest first."""
        table = schema.tool_calls
        query = select(table.c.result).where(table.c.conversation_id == conversation_id, table.c.name == tool, table.c.ok.is_(True))
        async with self.store.engine.connect() as conn:
            results = [row.result for row in await conn.execute(query.order_by(table.c.id))]
        outputs = []
        for result in results:
            try:
                value = json.loads(result)
            except ValueError:
                value = {}
            outputs.append(value if isinstance(value, dict) else {})
        return outputs
