"""Campaign progress reaches the consoles of every process: announced on one process's hub (from the store's counts),
it arrives on the other's over real Redis pub/sub, as a campaign event and never as a session of its own."""

from __future__ import annotations

from gateway.campaigns.progress import announce
from gateway.events import CampaignProgress, campaign_key
from gateway.store import Store
from gateway.store.campaigns import CampaignRecords, CampaignSpec, NewRow
from tests.hardening.conftest import wait_until
from tests.shared.test_hub_mirror import collect, processes


async def test_progress_announced_on_one_process_reaches_the_other(redis_url: str, tmp_path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'campaigns.db'}")
    await store.open()
    records = CampaignRecords(store)
    spec = CampaignSpec("mirror", "support-desk", "twilio", 1, 0, 0.0, None)
    campaign_id = await records.create(spec, [NewRow(2, "+819012345001"), NewRow(3, "12", invalid_reason="not a number")])
    try:
        async with processes(redis_url) as (one, two):
            on_two = collect(two.hub)
            await records.claim(campaign_id, 2, "+819012345001", "phone-x")
            await announce(one.hub, records, campaign_id)

            def pushed() -> list[CampaignProgress]:
                return [e for sid, e in on_two() if sid == campaign_key(campaign_id) and isinstance(e, CampaignProgress)]

            await wait_until(pushed, 5, "the progress on the other process")
            [event] = pushed()
            assert (event.campaign_id, event.status, event.total, event.invalid, event.live, event.done) == (campaign_id, "running", 2, 1, 1, 0)
            assert two.hub.all_sessions() == []  # a campaign is no live session
    finally:
        await store.close()
