"""The issue's end to end, from the console in headless Chromium: 20 emulated prospects uploaded in the Campaigns
tab and dialled on each carrier's emulator with the shipped ``meeting-booking`` profile (from the CLI:
tests/integration/test_campaign_end_to_end.py). The view shows the outcomes; every row has its outcome, call id,
duration and summary; only the booked rows get the SMS, with the carrier's delivery report; the campaign's Export
and the History tab's Export CSV download those calls (UTF-8 with a BOM)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

import pytest

from tests.integration.campaign_rig import campaign_reaches
from tests.integration.outbound_rig import OUTBOUND_SETTINGS
from tests.integration.prospects import call_list, check_rows, check_sms, prospects_line, settled, twenty_prospects

from .browser import chromium_page, login, needs_chromium, wait_js
from .conftest import TOKEN
from .test_campaigns_browser import start_campaign

pytestmark = pytest.mark.browser
SETTINGS = {**OUTBOUND_SETTINGS, "agent": "meeting-booking", "console_token": TOKEN}


async def downloaded(page: Any, button: Any) -> list[dict[str, str]]:
    async with page.expect_download() as download_info:
        await button.click()
    data = open(await (await download_info.value).path(), "rb").read()  # noqa: ASYNC230  (a local file just written)
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.mark.parametrize("carrier", ["twilio", "acs"])
async def test_twenty_prospects_from_the_console(tmp_path, carrier: str) -> None:
    needs_chromium()
    prospects = twenty_prospects("+8190123471")
    listed = tmp_path / "見込み客20.csv"
    listed.write_text(call_list(prospects), encoding="utf-8")
    async with prospects_line(carrier, tmp_path, prospects, **SETTINGS) as line, line.callees:
        rig = line.rig
        async with chromium_page({"width": 1280, "height": 800}) as page:
            await login(page, rig.url, TOKEN)
            await start_campaign(page, listed, agent="meeting-booking", carrier=carrier, concurrency="4", retries="0")
            await wait_js(page, "document.querySelector('#campaign .cstate')?.textContent === 'done'", 240)
            campaign_id = str(await page.get_attribute("#campaign-list .campaign-item.selected", "data-id"))
            found = await campaign_reaches(rig.url, campaign_id, settled(prospects), 60)
            text = await page.locator("#campaign").inner_text()
            counts = Counter(p.outcome for p in prospects)
            assert "20/20 done" in text and f"{counts['booked']} booked" in text and f"{counts['declined']} declined" in text, text
            check_rows(found["rows"], prospects)
            await check_sms(rig.url, found["rows"], prospects, line.sms_to())
            check_rows(await downloaded(page, page.locator('#campaign button[data-action="export"]')), prospects)

            await page.click('.tabs button[data-tab="history"]')
            await page.locator('#search input[name="caller"]').fill("90123471")
            history = await downloaded(page, page.locator("#history-export"))
            assert {r["call_id"] for r in found["rows"]} <= {r["id"] for r in history}
            assert page.errors == []  # type: ignore[attr-defined]
