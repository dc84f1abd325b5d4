"""Dialling one campaign from its state in the store: at most ``concurrency`` calls at once, only within calling
hours, busy and no answer retried after a delay, paused and resumed from the store's status. Every decision is
written before it is acted on (a row is claimed together with the id its call will have, then dialled, then its
outcome kept), so a gateway that stops half-way resumes where it was and never dials a row twice: on recovery an
attempt is resolved from the call's record, never dialled again unless the record proves it never was."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from channels.telephony.call import phone_session_id
from channels.telephony.outbound import CallRequest, OutboundCalls
from channels.telephony.registry import new_call_key
from gateway.declined import DECLINE_TOOL
from gateway.services import Gateway
from gateway.store.campaigns import FINISHED, RUNNING, CampaignRecords, CampaignSpec, DueRow
from gateway.store.sms import SmsRecords

from .hours import CallingHours
from .progress import announce

logger = logging.getLogger(__name__)
RETRIED = frozenset({"busy", "no_answer"})
LIVE_STATUSES = frozenset({"dialling", "queued", "initiated", "ringing", "in-progress", "answered"})
INTERRUPTED = "the gateway stopped during this call; not dialled again"
INTERRUPTED_DIALLING = "the gateway stopped while asking the carrier to dial; not dialled again"
NEVER_PLACED = "the gateway stopped before placing this call (no record of it): dialled again"
BLOCKED_LOOKAHEAD = 20  # rows looked past when the first due ones are being called by another campaign


@dataclass(frozen=True, slots=True)
class RunnerTiming:
    poll_s: float = 0.5  # how often the runner looks at the store (pause from another worker, due retries)
    record_poll_s: float = 0.2  # how often a live call's record is read
    lease_s: float = 30.0  # a runner that stops renewing for this long is replaced (another worker takes over)
    call_limit_s: float = 3600.0  # a call's record not done by then is reported as failed
    capacity_retry_s: float = 5.0  # the gateway was at capacity: the row waits this long, its attempt not counted


def campaign_outcome(record: dict[str, Any], succeeded: frozenset[str] = frozenset(), booking_tool: str | None = None) -> str:
    """answered, booked, declined, no_answer, busy, machine, failed, transferred. ``succeeded``: the tools that
    succeeded in the call; booked: the booking tool (the one the profile's SMS waits for) succeeded, declined: the
    agent recorded the prospect's no with ``record_declined``."""
    status = str(record.get("status") or "failed")
    if status in ("busy", "no_answer", "failed", "transferred"):
        return status
    if status.startswith("machine"):
        return "machine"
    if record.get("sms_after_call") in ("sent", "failed") or (booking_tool is not None and booking_tool in succeeded):
        return "booked"
    if DECLINE_TOOL in succeeded:
        return "declined"
    return "answered" if record.get("duration_s") is not None else "failed"


def calling_hours(spec: CampaignSpec) -> CallingHours | None:
    return CallingHours.parse(spec.hours, spec.days, spec.tz) if spec.hours else None


class CampaignRunner:
    def __init__(
        self, gw: Gateway, outbound: OutboundCalls, records: CampaignRecords, campaign_id: str, runner_id: str,
        timing: RunnerTiming | None = None,
    ) -> None:
        self.gw = gw
        self.outbound = outbound
        self.records = records
        self.campaign_id = campaign_id
        self.runner_id = runner_id
        self.timing = timing or RunnerTiming()
        self.wake = asyncio.Event()  # pause, resume or a finished attempt: look again now
        self.attempts: set[asyncio.Task[None]] = set()
        self.looks = 0  # times the runner has looked at the store (the console and tests can wait for the next)
        self._looked = asyncio.Condition()
        self.tool_calls = SmsRecords(gw.store)  # reads which tools succeeded in a call (as the SMS condition does)

    async def run(self) -> None:
        try:
            await self._loop()
        finally:
            for task in self.attempts:
                task.cancel()
            await asyncio.gather(*self.attempts, return_exceptions=True)
            with contextlib.suppress(Exception):  # the store may be closing: the lease then simply expires
                await asyncio.shield(self.records.release_lease(self.campaign_id, self.runner_id))

    async def _loop(self) -> None:
        recovered = False
        while True:
            status = await self.records.status(self.campaign_id)
            if status is None or status == FINISHED:
                return
            if not await self.records.take_lease(self.campaign_id, self.runner_id, self.timing.lease_s):
                await self._pause(self.timing.lease_s / 3)  # another worker dials it; take over if it stops
                continue
            if not recovered:
                await self._recover()
                recovered = True
            spec = await self.records.spec(self.campaign_id)
            if spec is None:
                return
            wait = self.timing.poll_s
            if status == RUNNING and not self.gw.draining:
                hours = calling_hours(spec)
                now = dt.datetime.now(dt.UTC)
                if hours is None or hours.allows(now):
                    await self._dial_due(spec)
                else:
                    until_open = (hours.next_open(now) - now).total_seconds()  # renewing the lease meanwhile
                    wait = max(self.timing.poll_s, min(self.timing.lease_s / 3, until_open))
                if not self.attempts and await self.records.close_if_complete(self.campaign_id):
                    logger.info("campaign %s: every row has its outcome", self.campaign_id)
                    await self.announce()
                    return
            await self._pause(wait)

    async def announce(self) -> None:
        await announce(self.gw.hub, self.records, self.campaign_id)

    async def looked(self, count: int) -> None:
        """Returns once the runner has looked at the store ``count`` times (a pause proven to hold, not timed)."""
        async with self._looked:
            await self._looked.wait_for(lambda: self.looks >= count)

    async def _pause(self, seconds: float) -> None:
        self.looks += 1
        async with self._looked:
            self._looked.notify_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()

    async def _dial_due(self, spec: CampaignSpec) -> None:
        free = spec.concurrency - len(self.attempts)
        if free <= 0:
            return
        claimed = free
        for row in await self.records.due(self.campaign_id, free + BLOCKED_LOOKAHEAD):
            if free <= 0:
                break
            call_key = new_call_key()  # the attempt's id, in the store before the carrier is asked
            if await self.records.claim(self.campaign_id, row.line, row.to, phone_session_id(call_key)):  # refused: its number is live elsewhere
                free -= 1
                task = asyncio.create_task(self._attempt(spec, row, call_key), name=f"campaign-{self.campaign_id}-line-{row.line}")
                self.attempts.add(task)
                task.add_done_callback(self._attempt_done)
        if free < claimed:
            await self.announce()

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self.attempts.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("campaign %s: an attempt failed: %s", self.campaign_id, exc, exc_info=exc)
        self.wake.set()

    async def _attempt(self, spec: CampaignSpec, row: DueRow, call_key: str) -> None:
        try:
            await self._dial(spec, row, call_key)
        except Exception as exc:  # the row still ends, with the reason, rather than staying "calling" for ever
            logger.error("campaign %s: line %d failed: %s", self.campaign_id, row.line, exc, exc_info=exc)
            await self._finish(spec, row.line, row.attempts + 1, "failed", None, f"internal error: {type(exc).__name__}")

    async def _dial(self, spec: CampaignSpec, row: DueRow, call_key: str) -> None:
        attempt = row.attempts + 1
        refusal = self.outbound.refusal(spec.carrier)
        if refusal is not None and (self.gw.draining or self.gw.at_media_capacity()):
            retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.timing.capacity_retry_s)
            await self.records.unclaim(self.campaign_id, row.line, retry_at, refusal)
            return
        if refusal is not None:
            await self._finish(spec, row.line, attempt, "failed", None, refusal, placed=False)
            return
        call_id = await self.outbound.place(CallRequest(row.to, spec.agent, spec.carrier, row.variables, call_key))
        logger.info("campaign %s: line %d dialled (attempt %d, call %s)", self.campaign_id, row.line, attempt, call_id)
        record = await self._record_when_done(call_id)
        await self._finish_from_record(spec, row.line, attempt, record)

    async def _record_when_done(self, call_id: str) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + self.timing.call_limit_s
        while asyncio.get_running_loop().time() < deadline:
            record = await self.outbound.records.get(call_id)
            if record is not None and record["done"]:
                return record
            await asyncio.sleep(self.timing.record_poll_s)
        return {"id": call_id, "status": "failed", "detail": "the call did not end in time"}

    async def _finish_from_record(self, spec: CampaignSpec, line: int, attempt: int, record: dict[str, Any]) -> None:
        await self.gw.writer.flush(timeout=5)  # the call's tool calls are in the store before they are read
        booking = self._booking_tool(spec)
        call_id = str(record.get("id") or "")
        succeeded = set()
        for name in (booking, DECLINE_TOOL):
            if name and call_id and await self.tool_calls.tool_outputs(call_id, name):
                succeeded.add(name)
        outcome = campaign_outcome(record, frozenset(succeeded), booking)
        await self._finish(spec, line, attempt, outcome, record.get("duration_s"), str(record.get("detail") or ""))

    async def _finish(
        self, spec: CampaignSpec, line: int, attempt: int, outcome: str, duration_s: float | None, reason: str, placed: bool = True
    ) -> None:
        retry_at = None
        if outcome in RETRIED and attempt <= spec.retries:
            retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=spec.retry_delay_s)
        await self.records.finish(self.campaign_id, line, outcome, duration_s=duration_s, reason=reason, retry_at=retry_at, placed=placed)
        await self.announce()
        logger.info("campaign %s: line %d %s (attempt %d)%s", self.campaign_id, line, outcome, attempt, ", retried later" if retry_at else "")

    def _booking_tool(self, spec: CampaignSpec) -> str | None:
        try:
            rule = self.gw.profiles.get(spec.agent).sms_after_call
        except KeyError:
            return None
        return rule.when_tool if rule is not None else None

    async def _recover(self) -> None:
        """Rows a stopped process was calling, resolved from their call's record: its outcome when it has one; failed
        with the reason when the call (or the carrier's dialling) was cut; dialled again only when no record of the
        call exists, which proves the carrier was never asked (a call's record is written before it is dialled)."""
        spec = await self.records.spec(self.campaign_id)
        if spec is None:
            return
        for line, call_id, attempts in await self.records.in_flight(self.campaign_id):
            record = await self.outbound.records.get(call_id) if call_id else None
            if record is None:
                await self.records.unclaim(self.campaign_id, line, dt.datetime.now(dt.UTC), NEVER_PLACED)
                logger.warning("campaign %s: line %d was claimed (attempt %s) but never placed: dialled again", self.campaign_id, line, call_id)
                continue
            if record["done"] or record["status"] not in LIVE_STATUSES:
                await self._finish_from_record(spec, line, attempts, record)
            else:
                reason = INTERRUPTED_DIALLING if record["status"] == "dialling" else INTERRUPTED
                await self.records.finish(self.campaign_id, line, "failed", duration_s=None, reason=reason, retry_at=None)
            logger.info("campaign %s: line %d was being called when the gateway stopped (call %s)", self.campaign_id, line, call_id)
        await self.announce()
