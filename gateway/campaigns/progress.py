"""A campaign's progress pushed to the consoles: after every change of a row or of the campaign's status, its counts
go out on the hub (and through the hub mirror to every process), so an open Campaigns view redraws at once instead
of polling; its poll stays only as a fallback for a page whose feed is down."""

from __future__ import annotations

import logging

from gateway.events import CampaignProgress, campaign_key
from gateway.hub import SessionHub
from gateway.store.campaigns import CampaignRecords

logger = logging.getLogger(__name__)


async def announce(hub: SessionHub, records: CampaignRecords, campaign_id: str) -> None:
    """Publish the campaign's counts as the store has them now (a failed read only costs this one push)."""
    try:
        summary = await records.summary(campaign_id)
    except Exception as exc:  # the store is closing or briefly away: the page's fallback poll catches up
        logger.warning("campaign %s: progress not pushed: %s", campaign_id, exc)
        return
    if summary is None:
        return
    hub.publish(campaign_key(campaign_id), CampaignProgress(
        campaign_id, summary["status"], summary["total"], summary["invalid"], summary["dialled"], summary["live"],
        summary["done"], dict(summary["outcomes"]),
    ))
