"""The console's Campaigns view in headless Chromium: a CSV uploaded through the form is dialled on the Twilio
emulator, its progress, outcome counts and rows are drawn from the store, the export downloads, a campaign is
paused and resumed from its buttons, and the view fits
at 1280 px, 800 px and phone width (screenshots kept as artifacts)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.campaigns.hours import DAYS
from gateway.emulators.realtime import Script
from gateway.emulators.twilio import TwilioCall
from tests.integration.campaign_rig import campaign_reaches, create_campaign, prospects_hang_up
from tests.integration.outbound_rig import OUTBOUND_SETTINGS
from tests.integration.twilio_rig import twilio_rig

from .browser import artifact, chromium_page, login, needs_chromium, wait_js
from .conftest import TOKEN

pytestmark = pytest.mark.browser
CALL_LIST = "電話番号,氏名,会社\n090-1234-5001,山田,A社\n090-1234-5002,佐藤,B社\n12345,誤り,C社\n090-1234-5003,鈴木,D社\n"


async def start_campaign(page: Any, listed: Path, **fields: str) -> Any:
    """Upload ``listed`` in the Campaigns tab's form with ``fields`` (selects and inputs by name), any time; returns
    the form."""
    await page.click('.tabs button[data-tab="campaigns"]')
    form = page.locator("#campaign-form")
    await form.locator('input[name="file"]').set_input_files(str(listed))
    for name, value in fields.items():
        if await form.locator(f'select[name="{name}"]').count():
            await form.locator(f'select[name="{name}"]').select_option(value)
        else:
            await form.locator(f'input[name="{name}"]').fill(value)
    await form.locator('input[name="any_time"]').check()
    await form.locator('button[type="submit"]').click()
    return form


async def test_a_campaign_from_the_console(tmp_path) -> None:
    needs_chromium()
    listed = tmp_path / "見込み客.csv"
    listed.write_text(CALL_LIST, encoding="utf-8")
    settings = {**OUTBOUND_SETTINGS, "console_token": TOKEN}
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **settings) as rig:
        rig.twilio.set_outbound_outcome("+819012345002", "busy")

        def new_call(seen: set[str]) -> Any:
            return rig.twilio.wait_for_call(lambda c: c.sid not in seen, 60)

        async def talk(call: TwilioCall) -> None:
            await call.wait_for(lambda c: c.status.terminal or (c.stream is not None and c.stream.connected), 30)
            if not call.status.terminal:
                await call.hang_up()

        async with chromium_page({"width": 1280, "height": 800}) as page, prospects_hang_up(new_call, lambda c: c.sid, talk):
            await login(page, rig.url, TOKEN)
            form = await start_campaign(page, listed, carrier="twilio", retries="0")
            await wait_js(page, "document.querySelector('#campaign .cstate') && document.querySelector('#campaign .cstate').textContent === 'done'", 60)
            detail = page.locator("#campaign")
            text = await detail.inner_text()
            assert "見込み客.csv" in text and "3/3 done" in text and "2 answered" in text and "1 busy" in text and "1 bad rows" in text
            assert not text.rstrip().endswith("null")  # one page: no pager, and nothing in its place
            rows = await page.eval_on_selector_all("#campaign tbody tr", "rows => rows.map(r => [...r.cells].slice(0, 4).map(c => c.textContent))")
            assert rows == [["2", "+819012345001", "山田", "answered"], ["3", "+819012345002", "佐藤", "busy"],
                            ["4", "12345", "", "bad row"], ["5", "+819012345003", "鈴木", "answered"]]
            campaign_id = await page.get_attribute("#campaign-list .campaign-item.selected", "data-id")
            async with page.expect_download() as download_info:
                await detail.locator('button[data-action="export"]').click()
            exported = await (await download_info.value).path()
            assert open(exported, "rb").read().startswith(b"\xef\xbb\xbf")  # noqa: ASYNC230  (a local file just written)
            # a campaign waiting for its calling day: paused and resumed from its buttons
            tomorrow = DAYS[(dt.datetime.now(ZoneInfo("Asia/Tokyo")).weekday() + 1) % 7]
            await form.locator('input[name="file"]').set_input_files(str(listed))
            await form.locator('input[name="days"]').fill(tomorrow)
            await form.locator('button[type="submit"]').click()
            await wait_js(page, "document.querySelector('#campaign .cstate')?.textContent === 'waiting'")  # running, outside its hours
            assert "Outside calling hours: nothing is dialled until" in await detail.locator(".waiting").inner_text()
            await detail.locator('button[data-action="pause"]').click()
            await wait_js(page, "document.querySelector('#campaign .cstate')?.textContent === 'paused'")
            assert await detail.locator(".waiting").count() == 0
            await detail.locator('button[data-action="resume"]').click()
            await wait_js(page, "document.querySelector('#campaign .cstate')?.textContent === 'waiting'")
            assert await page.locator("#campaign-list .campaign-item").count() == 2
            await page.click(f'#campaign-list .campaign-item[data-id="{campaign_id}"]')
            await wait_js(page, "document.querySelector('#campaign .cstate')?.textContent === 'done'")
            await page.mouse.move(0, 0)  # no hover highlight in the screenshots
            for width, height, name in ((1280, 800, "1280"), (800, 900, "800"), (390, 844, "phone")):
                await page.set_viewport_size({"width": width, "height": height})
                overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"the page scrolls sideways at {width} px"
                await page.screenshot(path=str(artifact(f"console-campaigns-{name}.png")))
            assert page.errors == []  # type: ignore[attr-defined]
        found = await campaign_reaches(rig.url, str(campaign_id), lambda c: c["status"] == "done")
        assert found["dialled"] == 3


async def test_campaign_progress_is_pushed_on_the_feed(tmp_path) -> None:
    """A campaign started outside the page (here through the API, as the CLI does) appears in an open Campaigns view
    and its counts move to done from the feed's campaign.progress events: the view's own poll, while the feed is
    live, runs only every 30 s, so nothing but the pushes can draw them within the test's time."""
    needs_chromium()
    numbers = [f"+8190123472{n:02d}" for n in range(6)]
    text = "phone,name\n" + "".join(f"{n},客{i}\n" for i, n in enumerate(numbers))
    settings = {**OUTBOUND_SETTINGS, "console_token": TOKEN}
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **settings) as rig:
        for n in numbers:
            rig.twilio.set_outbound_outcome(n, "busy")
        async with chromium_page({"width": 1280, "height": 800}) as page:
            await login(page, rig.url, TOKEN)
            await wait_js(page, "window.__console.connection === 'live'")
            await page.click('.tabs button[data-tab="campaigns"]')
            await wait_js(page, "document.querySelector('#campaign-list .empty') !== null")
            status, created = await create_campaign(rig.url, {"call_list": text, "carrier": "twilio", "concurrency": 1, "retries": 0, "hours": None})
            assert status == 201
            item = f'#campaign-list .campaign-item[data-id="{created["id"]}"]'
            await wait_js(page, f"document.querySelector('{item}') !== null", 10)  # pushed: a new campaign
            await page.click(item)
            await wait_js(page, "document.querySelector('#campaign .cstate')?.textContent === 'done'", 20)
            assert await page.get_attribute("#campaign", "data-source") == "push"
            assert "6/6 done" in await page.locator("#campaign").inner_text()
            assert "6/6 done" in await page.locator(item).inner_text()
            assert page.errors == []  # type: ignore[attr-defined]


async def test_a_long_call_list_is_shown_a_page_at_a_time(tmp_path) -> None:
    """250 rows (waiting for tomorrow's calling day, so none is dialled): the view shows 100 at a time, Next and
    Previous move through them, the last page holds the rest."""
    needs_chromium()
    numbers = [f"+81905501{n:04d}" for n in range(250)]
    listed = tmp_path / "long.csv"
    listed.write_text("phone,name\n" + "".join(f"{n},客{i}\n" for i, n in enumerate(numbers)), encoding="utf-8")
    tomorrow = DAYS[(dt.datetime.now(ZoneInfo("Asia/Tokyo")).weekday() + 1) % 7]
    async with twilio_rig(tmp_path, Script(steps=[]), **{**OUTBOUND_SETTINGS, "console_token": TOKEN}) as rig:
        async with chromium_page({"width": 1280, "height": 800}) as page:
            await login(page, rig.url, TOKEN)
            await page.click('.tabs button[data-tab="campaigns"]')
            form = page.locator("#campaign-form")
            await form.locator('input[name="file"]').set_input_files(str(listed))
            await form.locator('input[name="days"]').fill(tomorrow)
            await form.locator('button[type="submit"]').click()
            first_cells = "[...document.querySelectorAll('#campaign tbody tr')].map(r => r.cells[1].textContent)"
            await wait_js(page, "document.querySelectorAll('#campaign tbody tr').length === 100", 20)
            assert await page.evaluate(first_cells) == numbers[:100]
            assert "rows 1–100 of 250" in await page.locator("#campaign .pager").inner_text()
            for _ in range(2):
                await page.click('#campaign button[data-action="next"]')
            await wait_js(page, "document.querySelectorAll('#campaign tbody tr').length === 50")
            assert await page.evaluate(first_cells) == numbers[200:]
            assert await page.locator('#campaign button[data-action="next"]').is_disabled()
            await page.click('#campaign button[data-action="prev"]')
            await wait_js(page, "document.querySelector('#campaign .pager')?.textContent.includes('rows 101–200 of 250')")
            assert await page.evaluate(first_cells) == numbers[100:200]
            assert page.errors == []  # type: ignore[attr-defined]
        assert rig.twilio.calls == {}
