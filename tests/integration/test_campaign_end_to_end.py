"""The issue's end to end, from the CLI: ``voice-gateway campaign run`` dials 20 emulated prospects with the shipped
``meeting-booking`` profile (on ACS here; on Twilio from the console in tests/console/test_campaign_end_to_end.py):
some book a meeting, some decline, some are busy, do not answer or are answering machines. Every row ends with its
outcome, call id, duration and summary; only the booked rows get the SMS, with its delivery report; the campaign's
CSV and the history search's CSV (both with a BOM) hold those calls."""

from __future__ import annotations

import asyncio
import csv
import io

from gateway.cli import main
from tests.integration.campaign_rig import campaign_reaches, campaigns, export, prospects_hang_up
from tests.integration.outbound_rig import API_TOKEN, OUTBOUND_SETTINGS
from tests.integration.phone_rig import phone_rig
from tests.integration.prospects import (
    call_list,
    callee,
    check_rows,
    check_sms,
    prospect_script,
    script_acs_callees,
    settled,
    twenty_prospects,
)

CONSOLE_TOKEN = "history-export-token"
SETTINGS = {**OUTBOUND_SETTINGS, "agent": "meeting-booking", "console_token": CONSOLE_TOKEN}


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # Excel in Japan opens it as UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


async def test_twenty_prospects_book_decline_or_miss_from_the_cli_on_acs(tmp_path, monkeypatch) -> None:
    prospects = twenty_prospects()
    listed = tmp_path / "list.csv"
    listed.write_text(call_list(prospects), encoding="utf-8")
    out = tmp_path / "results.csv"
    options = {"ring_delay_s": 0.05, "no_answer_timeout_s": 0.3}
    async with phone_rig(tmp_path, prospect_script(), acs_options=options, play_s=0.1, **SETTINGS) as rig:
        script_acs_callees(rig.acs, prospects)
        rig.acs.config.sms_events_url = rig.incoming_url  # the Event Grid subscription for SMS delivery reports

        def new_call(seen: set[str]) -> object:
            return rig.acs.wait_for_call(lambda c: c.call_connection_id not in seen, 180)

        monkeypatch.setenv("API_TOKEN", API_TOKEN)
        argv = ["campaign", "run", str(listed), "--gateway", rig.url, "--carrier", "acs", "--agent", "meeting-booking",
                "--concurrency", "4", "--retries", "0", "--any-time", "--out", str(out)]
        async with prospects_hang_up(new_call, lambda c: c.call_connection_id, callee(rig.realtime, prospects)):
            assert await asyncio.wait_for(asyncio.to_thread(main, argv), 240) == 0
        cli_rows = read_csv(out.read_bytes())
        assert [(r["to"], r["outcome"]) for r in cli_rows] == [(p.to, p.outcome) for p in prospects]

        campaign_id = (await campaigns(rig.url))[0]["id"]  # the one the CLI created
        found = await campaign_reaches(rig.url, campaign_id, settled(prospects), 60)
        check_rows(found["rows"], prospects)
        await check_sms(rig.url, found["rows"], prospects, [m.to for m in rig.acs.sms])
        _, exported = await export(rig.url, campaign_id)
        check_rows(read_csv(exported), prospects)

        history = tmp_path / "history.csv"
        monkeypatch.setenv("CONSOLE_TOKEN", CONSOLE_TOKEN)
        argv = ["history", "export", "--gateway", rig.url, "--caller", "90123470", "--out", str(history)]
        assert await asyncio.wait_for(asyncio.to_thread(main, argv), 30) == 0
        ids = {r["id"] for r in read_csv(history.read_bytes())}
        assert {r["call_id"] for r in found["rows"]} <= ids

