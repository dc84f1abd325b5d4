"""Dialling a call list through a gateway's calls API (``POST /api/calls``, then its record until the call is
done): at most ``concurrency`` calls at once, only within calling hours, busy and no answer retried after a delay.
A number is listed once (the call list drops repeats), so it is never called twice at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from .call_list import Prospect
from .hours import CallingHours

logger = logging.getLogger(__name__)
RETRIED = frozenset({"busy", "no_answer"})
POLL_S = 0.2
CALL_LIMIT_S = 3600.0  # a call's record not done by then is reported as failed


@dataclass(frozen=True, slots=True)
class CampaignOptions:
    agent: str | None
    carrier: str | None
    concurrency: int = 2
    retries: int = 2
    retry_delay_s: float = 300.0
    hours: CallingHours | None = None  # None: any time (a test, or a list already cleared for now)


def campaign_outcome(record: dict[str, Any]) -> str:
    """answered, booked, no_answer, busy, machine, failed, transferred (booked: the profile's SMS condition held)."""
    status = str(record.get("status") or "failed")
    if status in ("busy", "no_answer", "failed", "transferred"):
        return status
    if status.startswith("machine"):
        return "machine"
    if record.get("sms_after_call") in ("sent", "failed"):
        return "booked"
    return "answered" if record.get("duration_s") is not None else "failed"


class CampaignRunner:
    def __init__(
        self,
        base_url: str,
        token: str,
        options: CampaignOptions,
        report: Callable[[str], None] = lambda _: None,
        row_done: Callable[[dict[str, Any]], None] = lambda _: None,
    ) -> None:
        """``report``: one line of progress; ``row_done``: a row's final result, the moment it has one."""
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.options = options
        self.report = report
        self.row_done = row_done
        self.live = 0
        self.peak = 0  # the most calls live at once

    async def run(self, prospects: list[Prospect]) -> list[dict[str, Any]]:
        slots = asyncio.Semaphore(self.options.concurrency)
        async with aiohttp.ClientSession() as http:
            return list(await asyncio.gather(*(self._prospect(http, slots, p) for p in prospects)))

    async def _prospect(self, http: aiohttp.ClientSession, slots: asyncio.Semaphore, prospect: Prospect) -> dict[str, Any]:
        row: dict[str, Any] = {"line": prospect.line, "to": prospect.to, "name": prospect.name}
        for attempt in range(1, self.options.retries + 2):
            async with slots:
                await self._calling_hours()
                self.live += 1
                self.peak = max(self.peak, self.live)
                try:
                    record = await self._call(http, prospect)
                finally:
                    self.live -= 1
            outcome = campaign_outcome(record)
            row.update(outcome=outcome, attempts=attempt, call_id=record.get("id"), duration_s=record.get("duration_s"),
                       summary=record.get("summary"), reason=record.get("detail") or record.get("error"))
            self.report(f"line {prospect.line} {prospect.to}: {outcome} (attempt {attempt})")
            if outcome not in RETRIED or attempt > self.options.retries:
                self.row_done(row)
                return row
            await asyncio.sleep(self.options.retry_delay_s)
        return row

    async def _calling_hours(self) -> None:
        hours = self.options.hours
        while hours is not None and not hours.allows(now := dt.datetime.now(dt.UTC)):
            wait = (hours.next_open(now) - now).total_seconds()
            self.report(f"outside calling hours: waiting {wait / 60:.0f} min")
            await asyncio.sleep(max(1.0, min(wait, 600.0)))

    async def _call(self, http: aiohttp.ClientSession, prospect: Prospect) -> dict[str, Any]:
        body = {"to": prospect.to, "variables": prospect.variables}
        if self.options.agent:
            body["agent"] = self.options.agent
        if self.options.carrier:
            body["carrier"] = self.options.carrier
        async with http.post(f"{self.base_url}/api/calls", json=body, headers=self.headers) as response:
            placed = await response.json(content_type=None)
            if response.status != 202:
                return {"status": "failed", "error": f"{response.status}: {placed.get('reason') or placed.get('error')}"}
        call_id = placed["id"]
        deadline = asyncio.get_running_loop().time() + CALL_LIMIT_S
        while asyncio.get_running_loop().time() < deadline:
            async with http.get(f"{self.base_url}/api/calls/{call_id}", headers=self.headers) as response:
                record = await response.json(content_type=None)
            if record.get("done"):
                return record
            await asyncio.sleep(POLL_S)
        return {"id": call_id, "status": "failed", "error": "the call did not end in time"}
