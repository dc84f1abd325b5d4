"""The CLI's side of a campaign: hand the call list to the gateway's campaigns API, then follow the campaign's rows
until every one has its outcome. The gateway dials from its store, so a gateway restart only pauses the following:
it waits for the gateway to come back and goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from gateway.store.campaigns import PAGE_MAX

logger = logging.getLogger(__name__)
POLL_S = 0.3


class CampaignRefused(Exception):
    """The gateway did not take the campaign; the message is its reason."""


class CampaignFollower:
    def __init__(self, base_url: str, token: str, report: Callable[[str], None] = lambda _: None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.report = report

    async def run(self, body: dict[str, Any], rows_changed: Callable[[list[dict[str, Any]]], None]) -> list[dict[str, Any]]:
        """Create the campaign, then report each row as it ends; returns the rows once the campaign is done."""
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base_url}/api/campaigns", json=body, headers=self.headers) as response:
                created = await response.json(content_type=None)
                if response.status != 201:
                    raise CampaignRefused(f"{response.status}: {created.get('error')}")
            campaign_id = created["id"]
            self.report(f"campaign {campaign_id} (progress on the console too)")
            reported: dict[int, tuple[str, int]] = {}
            unreachable = False
            while True:
                try:
                    campaign = await self._get(http, campaign_id)
                except (aiohttp.ClientConnectionError, TimeoutError):
                    if not unreachable:
                        self.report("the gateway is not answering: waiting for it (the campaign resumes when it is back)")
                    unreachable = True
                    await asyncio.sleep(1.0)
                    continue
                unreachable = False
                changed = False
                for row in campaign["rows"]:
                    key = (str(row["status"]), int(row["attempts"]))
                    if row["status"] in ("done", "pending") and row["attempts"] and reported.get(row["line"]) != key and row["outcome"]:
                        reported[row["line"]] = key
                        changed = True
                        self.report(f"line {row['line']} {row['to']}: {row['outcome']} (attempt {row['attempts']})")
                if changed:
                    rows_changed(campaign["rows"])
                if campaign["status"] == "done":
                    return list(campaign["rows"])
                await asyncio.sleep(POLL_S)

    async def _get(self, http: aiohttp.ClientSession, campaign_id: str) -> dict[str, Any]:
        """The campaign with every row (the API serves them a page at a time)."""
        campaign = await self._page(http, campaign_id, 0)
        rows = list(campaign["rows"])
        while len(rows) < campaign["total"]:
            more = (await self._page(http, campaign_id, len(rows)))["rows"]
            if not more:
                break
            rows += more
        return {**campaign, "rows": rows}

    async def _page(self, http: aiohttp.ClientSession, campaign_id: str, offset: int) -> dict[str, Any]:
        query = {"offset": str(offset), "limit": str(PAGE_MAX)}
        async with http.get(f"{self.base_url}/api/campaigns/{campaign_id}", params=query, headers=self.headers) as response:
            if response.status != 200:
                raise CampaignRefused(f"{response.status}: {(await response.json(content_type=None)).get('error')}")
            return dict(await response.json(content_type=None))
