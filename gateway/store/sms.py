"""The record of SMS sent after calls (one row per message, its delivery status as the carrier reports it), and
what the condition of sending reads: the outputs of a tool that succeeded in the conversation."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select, update

from . import schema
from .store import Store, utcnow

FINAL = frozenset({"delivered", "failed", "undelivered"})


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

    async def delivery(self, message_id: str, status: str, detail: str = "") -> bool:
        """A delivery report; a final status is never overwritten by a late, earlier one. False: unknown message."""
        table = schema.sms_messages
        async with self.store.engine.begin() as conn:
            row = (await conn.execute(select(table.c.id, table.c.status).where(table.c.message_id == message_id))).first()
            if row is None:
                return False
            if row.status not in FINAL:
                values = {"status": status, "detail": detail[:500], "updated_at": utcnow()}
                await conn.execute(update(table).where(table.c.id == row.id).values(**values))
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
