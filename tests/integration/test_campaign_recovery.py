"""A process that stopped between claiming rows and their calls' end: the runner that takes the campaign over resolves
each attempt from what the store holds, and never dials a number again unless the store proves it was never dialled.
The stopped process is played by writing its state directly (its claims with their attempt ids, the call records
it got to write); the gateway under test, on the Twilio emulator, then takes the campaign over."""

from __future__ import annotations

from gateway.campaigns.runner import INTERRUPTED, INTERRUPTED_DIALLING
from gateway.emulators.realtime import Script
from gateway.store.campaigns import CampaignRecords, CampaignSpec, NewRow
from gateway.store.outbound import OutboundRecords
from tests.integration.campaign_rig import campaign_reaches
from tests.integration.outbound_rig import OUTBOUND_SETTINGS
from tests.integration.twilio_rig import twilio_rig

NEVER, DIALLING, TALKING, ENDED = "+819012347301", "+819012347302", "+819012347303", "+819012347304"


async def test_a_stopped_processs_attempts_are_resolved_not_redialled(tmp_path, caplog) -> None:
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **OUTBOUND_SETTINGS) as rig:
        rig.twilio.set_outbound_outcome(NEVER, "busy")
        records, calls = CampaignRecords(rig.gw.store), OutboundRecords(rig.gw.store)
        spec = CampaignSpec("recovery", "support-desk", "twilio", 4, 0, 0.0, None)
        campaign_id = await records.create(spec, [NewRow(i + 2, n) for i, n in enumerate((NEVER, DIALLING, TALKING, ENDED))])
        assert await records.take_lease(campaign_id, "stopped-process", 30)
        for line, number in enumerate((NEVER, DIALLING, TALKING, ENDED), start=2):
            assert await records.claim(campaign_id, line, number, f"phone-attempt-{line}")
        # what it got to write: no record for line 2 (stopped before placing it), line 3's carrier request under way,
        # line 4 answered and talking, line 5 over (busy) with nothing after it left to do
        for line in (3, 4, 5):
            await calls.create(f"phone-attempt-{line}", "twilio", (DIALLING, TALKING, ENDED)[line - 3], "support-desk")
        await calls.progress("phone-attempt-4", "in-progress")
        await calls.progress("phone-attempt-5", "busy")
        await calls.sms_decided("phone-attempt-5", "none")
        await records.release_lease(campaign_id, "stopped-process")  # its lease lapsed

        rig.app.blueprints["campaigns"].campaigns.start(campaign_id)  # this process takes the campaign over
        found = await campaign_reaches(rig.url, campaign_id, lambda c: c["status"] == "done", 30)
        rows = {r["line"]: r for r in found["rows"]}
        assert [c.to for c in rig.twilio.calls.values()] == [NEVER]  # only the number never dialled, once
        assert (rows[2]["outcome"], rows[2]["attempts"]) == ("busy", 1) and rows[2]["call_id"] != "phone-attempt-2"
        assert (rows[3]["outcome"], rows[3]["reason"], rows[3]["call_id"]) == ("failed", INTERRUPTED_DIALLING, "phone-attempt-3")
        assert (rows[4]["outcome"], rows[4]["reason"], rows[4]["call_id"]) == ("failed", INTERRUPTED, "phone-attempt-4")
        assert (rows[5]["outcome"], rows[5]["call_id"]) == ("busy", "phone-attempt-5")
        assert all(r["attempts"] == 1 for r in rows.values())
        assert "line 2 was claimed (attempt phone-attempt-2) but never placed" in caplog.text  # said, not silent
