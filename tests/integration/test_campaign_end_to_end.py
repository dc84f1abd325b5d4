"""The issue's end to end, from the CLI: ``voice-gateway campaign run`` dials 20 emulated prospects with the shipped
``meeting-booking`` profile on each carrier (from the console: tests/console/test_campaign_end_to_end.py): some
book a meeting, some decline, some are busy, do not answer or are answering machines. Every row ends with its
outcome, call id, duration and summary; only the booked rows get the SMS, with its delivery report; the campaign's
CSV and the history search's CSV (both with a BOM) hold those calls."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from gateway.cli import main
from tests.integration.campaign_rig import campaign_reaches, campaigns, export
from tests.integration.outbound_rig import API_TOKEN, OUTBOUND_SETTINGS
from tests.integration.prospects import call_list, check_rows, check_sms, prospects_line, settled, twenty_prospects

CONSOLE_TOKEN = "history-export-token"
SETTINGS = {**OUTBOUND_SETTINGS, "agent": "meeting-booking", "console_token": CONSOLE_TOKEN}


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # Excel in Japan opens it as UTF-8
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("carrier", ["acs", "twilio"])
async def test_twenty_prospects_book_decline_or_miss_from_the_cli(tmp_path, monkeypatch, carrier: str) -> None:
    prospects = twenty_prospects()
    listed = tmp_path / "list.csv"
    listed.write_text(call_list(prospects), encoding="utf-8")
    out = tmp_path / "results.csv"
    async with prospects_line(carrier, tmp_path, prospects, **SETTINGS) as line:
        base = line.rig.url
        monkeypatch.setenv("API_TOKEN", API_TOKEN)
        argv = ["campaign", "run", str(listed), "--gateway", base, "--carrier", carrier, "--agent", "meeting-booking",
                "--concurrency", "4", "--retries", "0", "--any-time", "--out", str(out)]
        async with line.callees:
            assert await asyncio.wait_for(asyncio.to_thread(main, argv), 240) == 0
        cli_rows = read_csv(out.read_bytes())
        assert [(r["to"], r["outcome"]) for r in cli_rows] == [(p.to, p.outcome) for p in prospects]

        campaign_id = (await campaigns(base))[0]["id"]  # the one the CLI created
        found = await campaign_reaches(base, campaign_id, settled(prospects), 60)
        check_rows(found["rows"], prospects)
        await check_sms(base, found["rows"], prospects, line.sms_to())
        _, exported = await export(base, campaign_id)
        check_rows(read_csv(exported), prospects)

        history = tmp_path / "history.csv"
        monkeypatch.setenv("CONSOLE_TOKEN", CONSOLE_TOKEN)
        argv = ["history", "export", "--gateway", base, "--caller", "90123470", "--out", str(history)]
        assert await asyncio.wait_for(asyncio.to_thread(main, argv), 30) == 0
        ids = {r["id"] for r in read_csv(history.read_bytes())}
        assert {r["call_id"] for r in found["rows"]} <= ids
