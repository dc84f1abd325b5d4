"""Delivery reports against the SMS record on a real SQLite store, including a report that arrives before the
carrier's answer to the send (the emulators and real carriers both can do that)."""

from __future__ import annotations

import pytest

from gateway.store import Store
from gateway.store.sms import SmsRecords


@pytest.fixture
async def records(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'sms.db'}")
    await store.open()
    yield SmsRecords(store)
    await store.close()


async def test_a_report_before_the_sends_answer_is_kept_and_applied(records: SmsRecords) -> None:
    row = await records.create("phone-1", "acs", "+819012345678", "ご予約を承りました")
    assert not await records.delivery("Outgoing_1", "delivered")  # the send's answer is not written yet
    await records.sent(row, "Outgoing_1", "accepted")
    [message] = await records.of_conversation("phone-1")
    assert (message["message_id"], message["status"]) == ("Outgoing_1", "delivered")
    assert await records.delivery("Outgoing_1", "sent")  # a late, earlier status does not undo the final one
    assert [m["status"] for m in await records.of_conversation("phone-1")] == ["delivered"]


async def test_a_report_after_the_sends_answer_applies_at_once(records: SmsRecords) -> None:
    row = await records.create("phone-2", "twilio", "+819012345678", "ご予約を承りました")
    await records.sent(row, "SM2", "queued")
    assert await records.delivery("SM2", "undelivered", "30003")
    [message] = await records.of_conversation("phone-2")
    assert (message["status"], message["detail"]) == ("undelivered", "30003")
    assert not await records.delivery("SM-not-ours", "delivered")  # another app's message: kept aside, never shown
    assert await records.of_conversation("phone-2") == [message]
