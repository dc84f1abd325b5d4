"""Twenty emulated prospects for the shipped ``meeting-booking`` profile: each row of the call list carries a ``plan``
column (a free column, so a call variable the agent sees as data) that the scripted model and the emulated callee
both follow: ``book`` (the model books the row's ``slot`` with ``book_meeting``), ``decline`` (``record_declined``),
or a carrier outcome (busy, no answer, an answering machine). The checks compare every row's outcome, call id,
duration and summary with its plan, and the SMS sent (to booked rows only) with their delivery status."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.declined import DECLINE_TOOL
from gateway.emulators.acs import EmulatedCall, Silence
from gateway.emulators.realtime import CallTool, Pick, Say, Script
from gateway.emulators.realtime.script import ReplyContext
from gateway.emulators.twilio import TwilioCall
from tests.conftest import speech
from tests.integration.campaign_rig import prospects_hang_up
from tests.integration.outbound_rig import call_record
from tests.integration.phone_rig import phone_rig
from tests.integration.test_meeting_booking import LISTENS, next_monday
from tests.integration.test_short_silence_check import MACHINE, PERSON
from tests.integration.twilio_rig import twilio_rig

PLANS = ["book", "decline", "busy", "book", "no_answer", "machine", "decline", "book", "busy", "decline",
         "book", "no_answer", "machine", "book", "decline", "busy", "no_answer", "book", "machine", "decline"]
OUTCOME = {"book": "booked", "decline": "declined", "busy": "busy", "no_answer": "no_answer", "machine": "machine"}
TALKS = ("book", "decline")  # the plans whose callee answers and talks with the agent
_PLAN = re.compile(r'"plan": "(\w+)"')
_SLOT = re.compile(r'"slot": "([\d\-T:]+)"')
_NAME = re.compile(r'"name": "([^"]+)"')


@dataclass(frozen=True, slots=True)
class Prospect:
    to: str
    name: str
    plan: str
    slot: str  # the slot a booker agrees to (each its own, so concurrent calls never race for one)

    @property
    def outcome(self) -> str:
        return OUTCOME[self.plan]


def twenty_prospects(prefix: str = "+8190123470") -> list[Prospect]:
    monday = next_monday()
    starts = [dt.time(10), dt.time(10, 30), dt.time(11), dt.time(11, 30), dt.time(13), dt.time(13, 30)]
    slots = iter(f"{monday.isoformat()}T{t.strftime('%H:%M')}" for t in starts)
    return [
        Prospect(f"{prefix}{i:02d}", f"見込み客{i:02d}", plan, next(slots) if plan == "book" else "")
        for i, plan in enumerate(PLANS)
    ]


def call_list(prospects: list[Prospect]) -> str:
    return "電話番号,氏名,plan,slot\n" + "".join(f"{p.to},{p.name},{p.plan},{p.slot}\n" for p in prospects)


def _agent_step(ctx: ReplyContext) -> Say | CallTool:
    """Greet; on the callee's first answer act on the row's plan (book its slot, or record the no); then close."""
    plan, slot, name = (m.group(1) if (m := rx.search(ctx.instructions)) else "" for rx in (_PLAN, _SLOT, _NAME))
    if ctx.response_index == 0:
        return Say(f"お世話になっております。サンプル商事です。{name}様でいらっしゃいますか。")
    if plan == "book" and "book_meeting" not in ctx.tool_outputs:
        return CallTool("book_meeting", {"slotId": slot, "name": name}, then=Say("{output[meeting_spoken]}で承りました。"))
    if plan == "decline" and DECLINE_TOOL not in ctx.tool_outputs:
        return CallTool(DECLINE_TOOL, {"reason": "必要ない"}, then=Say("承知いたしました。失礼いたします。"))
    return Say("失礼いたします。")


def prospect_script() -> Script:
    return Script(when_exhausted=Pick(_agent_step))


def script_twilio_callees(twilio: Any, prospects: list[Prospect]) -> None:
    for p in prospects:
        if p.plan in ("busy", "no_answer"):
            twilio.set_outbound_outcome(p.to, p.plan.replace("_", "-"))
        elif p.plan == "machine":
            twilio.set_outbound_outcome(p.to, "answer", answered_by="machine_end_beep")


def script_acs_callees(acs: Any, prospects: list[Prospect]) -> None:
    for p in prospects:
        if p.plan in ("busy", "no_answer"):
            acs.set_outbound_outcome(p.to, p.plan.replace("_", "-"))
        else:  # the short-silence check hears a person (a short hello) or a machine (a greeting that runs on)
            acs.set_outbound_outcome(p.to, "answer", MACHINE if p.plan == "machine" else PERSON, keys=None)


async def converse(realtime: Any, call: TwilioCall | EmulatedCall, prospect: Prospect) -> None:
    """A callee who talks: hears the agent's greeting, answers, hears the agent act on its plan, hangs up."""
    session = await realtime.wait_for(
        lambda r: next((s for s in r.sessions if f'"name": "{prospect.name}"' in s.instructions), None), 60)

    def responded(n: int) -> Any:
        return session.wait_for(lambda s: len(s.responses) >= n and s.responses[-1].status == "completed", 60)

    await responded(1)
    for item in (LISTENS, speech("ja_greeting_reply", 16), Silence(1500)):
        call.say(item)
    await responded(3)
    await call.hang_up()


def callee(realtime: Any, prospects: list[Prospect]) -> Any:
    """The ``talk`` for ``prospects_hang_up``: talkers converse; busy, unanswered and machine calls need nobody."""
    by_number = {p.to: p for p in prospects}

    async def talk(call: TwilioCall | EmulatedCall) -> None:
        prospect = by_number[call.to if isinstance(call, TwilioCall) else call.callee]
        if prospect.plan in TALKS:
            await converse(realtime, call, prospect)

    return talk


def settled(prospects: list[Prospect]) -> Any:
    """The campaign is done and every talker's summary has been written (it follows the call's end)."""
    talkers = {p.to for p in prospects if p.plan in TALKS}

    def check(found: dict[str, Any]) -> bool:
        return found["status"] == "done" and all(r["summary"] for r in found["rows"] if r["to"] in talkers)

    return check


def check_rows(rows: list[dict[str, Any]], prospects: list[Prospect]) -> None:
    """Each row: the outcome its plan leads to, the call's id, a duration for a call that talked, a summary."""
    assert [(r["to"], r["outcome"]) for r in rows] == [(p.to, p.outcome) for p in prospects]
    for row, p in zip(rows, prospects, strict=True):
        assert str(row["call_id"]).startswith("phone-"), row
        assert int(row["attempts"]) == 1, row
        if p.plan in TALKS:
            assert float(row["duration_s"]) >= 0 and row["summary"], row


async def check_sms(base: str, rows: list[dict[str, Any]], prospects: list[Prospect], sent_to: list[str]) -> None:
    """An SMS went to every booked row and to no other, and each one's delivery report is in its call's record."""
    booked = sorted(p.to for p in prospects if p.plan == "book")
    assert sorted(sent_to) == booked
    by_number = {r["to"]: r for r in rows}
    for p in prospects:
        record = await _sms_settled(base, str(by_number[p.to]["call_id"]), p.plan == "book")
        if p.plan == "book":
            assert record["sms_after_call"] == "sent" and [m["status"] for m in record["sms"]] == ["delivered"], record
            assert record["sms"][0]["text"].startswith(f"{p.name}様 サンプル商事です。"), record
        else:
            assert record["sms"] == [] and record["sms_after_call"] in ("not_due", "none"), record


async def _sms_settled(base: str, call_id: str, booked: bool) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for _ in range(200):
        record = await call_record(base, call_id)
        if not booked or (record["sms"] and record["sms"][-1]["status"] == "delivered"):
            return record
        await asyncio.sleep(0.05)
    return record



@dataclass(slots=True)
class ProspectsLine:
    """A gateway on one carrier's emulator whose callees follow the prospects' plans."""

    rig: Any
    callees: contextlib.AbstractAsyncContextManager[Any]  # while open, every new call is answered as its plan says
    sms_to: Callable[[], list[str]]  # the numbers the carrier accepted an SMS for


@contextlib.asynccontextmanager
async def prospects_line(carrier: str, tmp_path: Path, prospects: list[Prospect], **settings: Any) -> AsyncIterator[ProspectsLine]:
    if carrier == "acs":
        options = {"ring_delay_s": 0.05, "no_answer_timeout_s": 0.3}
        async with phone_rig(tmp_path, prospect_script(), acs_options=options, play_s=0.1, **settings) as rig:
            script_acs_callees(rig.acs, prospects)
            rig.acs.config.sms_events_url = rig.incoming_url  # the Event Grid subscription for SMS delivery reports
            talk = callee(rig.realtime, prospects)

            def new_acs_call(seen: set[str]) -> Any:
                return rig.acs.wait_for_call(lambda c: c.call_connection_id not in seen, 180)

            callees = prospects_hang_up(new_acs_call, lambda c: c.call_connection_id, talk)
            yield ProspectsLine(rig, callees, lambda: [m.to for m in rig.acs.sms])
        return
    async with twilio_rig(tmp_path, prospect_script(), twilio_config={"ring_delay_s": 0.05}, outbound_ring_timeout_s=5, **settings) as rig:
        script_twilio_callees(rig.twilio, prospects)
        talk = callee(rig.realtime, prospects)

        def new_twilio_call(seen: set[str]) -> Any:
            return rig.twilio.wait_for_call(lambda c: c.sid not in seen, 180)

        yield ProspectsLine(rig, prospects_hang_up(new_twilio_call, lambda c: c.sid, talk), lambda: [m.to for m in rig.twilio.messages])
