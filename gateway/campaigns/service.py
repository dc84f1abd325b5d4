"""The campaigns this gateway process dials: one runner task per campaign, started when a campaign is created and,
on start-up, for every campaign the store says is not finished (a restarted gateway resumes them)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from channels.telephony.outbound import OutboundCalls
from gateway.services import Gateway
from gateway.store.campaigns import PAUSED, RUNNING, CampaignRecords, CampaignSpec, NewRow

from .call_list import CallList
from .progress import announce
from .runner import CampaignRunner, RunnerTiming

logger = logging.getLogger(__name__)


class Campaigns:
    def __init__(self, gw: Gateway, outbound: OutboundCalls, timing: RunnerTiming | None = None) -> None:
        self.gw = gw
        self.outbound = outbound
        self.records = CampaignRecords(gw.store)
        self.timing = timing or RunnerTiming()
        self.runner_id = f"{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.runners: dict[str, CampaignRunner] = {}

    async def create(self, spec: CampaignSpec, call_list: CallList, skip_lines: frozenset[int] = frozenset()) -> str:
        """Store the campaign with every row (bad rows as invalid: reported, never dialled) and start dialling."""
        rows = [NewRow(p.line, p.to, p.name, p.variables) for p in call_list.prospects if p.line not in skip_lines]
        rows += [NewRow(b.line, b.raw, invalid_reason=b.reason) for b in call_list.bad_rows if b.line not in skip_lines]
        campaign_id = await self.records.create(spec, sorted(rows, key=lambda r: r.line))
        logger.info("campaign %s created: %d rows to dial on %s (agent %s)", campaign_id, len(call_list.prospects), spec.carrier, spec.agent)
        await announce(self.gw.hub, self.records, campaign_id)
        self.start(campaign_id)
        return campaign_id

    def start(self, campaign_id: str) -> None:
        runner = self.runners.get(campaign_id)
        if runner is not None:
            runner.wake.set()
            return
        runner = CampaignRunner(self.gw, self.outbound, self.records, campaign_id, self.runner_id, self.timing)
        self.runners[campaign_id] = runner
        task = self.gw.spawn(runner.run(), f"campaign-{campaign_id}")
        task.add_done_callback(lambda _: self.runners.pop(campaign_id, None))

    async def resume_all(self) -> None:
        """Every campaign not finished gets a runner here (a paused one waits for its resume; one another worker
        dials waits for that worker's lease to lapse)."""
        for campaign_id in await self.records.running_ids():
            if campaign_id not in self.runners:
                logger.info("campaign %s: this process follows it (start-up, or created by another worker)", campaign_id)
                self.start(campaign_id)

    async def watch(self) -> None:
        """From start-up on: resume unfinished campaigns at once, then look again every lease period, so a campaign
        created in another worker is dialled on if that worker stops."""
        while True:
            await self.resume_all()
            await asyncio.sleep(self.timing.lease_s)

    async def pause(self, campaign_id: str) -> bool:
        changed = await self.records.set_status(campaign_id, PAUSED)
        if changed and (runner := self.runners.get(campaign_id)) is not None:
            runner.wake.set()
        if changed:
            await announce(self.gw.hub, self.records, campaign_id)
        return changed

    async def resume(self, campaign_id: str) -> bool:
        changed = await self.records.set_status(campaign_id, RUNNING)
        if changed:
            await announce(self.gw.hub, self.records, campaign_id)
            self.start(campaign_id)
        return changed
