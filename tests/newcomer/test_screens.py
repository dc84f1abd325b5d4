"""Every screen a newcomer meets, looked at as a person would, at 1280 px, 800 px and phone size, in Japanese and
English: the page talking to the offline demo's agent, and the console following a demo call that ends by itself.
Screenshots go to tests/artifacts/ (look at them)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tests.browser.conftest import fake_mic_wav, launch_browser, screenshot_path
from tests.console.browser import wait_js
from tests.newcomer.screens_rig import CUT_TEXT, NO_SIDEWAYS_SCROLL, SINGLE_ROW, TOKEN, VIEWPORTS, offline_demo

pytestmark = pytest.mark.browser

ROLE_PREFIXES = ("user:", "assistant:")


async def _store_record(demo, session_id: str) -> dict:
    for _ in range(100):  # the summary is written after the conversation ends: bounded wait for it
        await demo.gw.writer.flush(timeout=5)
        record = await demo.gw.store.conversation(session_id)
        if record and record.get("summary"):
            return record
        await wait_js_sleep()
    raise AssertionError(f"no summary for {session_id}")


async def wait_js_sleep() -> None:
    import asyncio

    await asyncio.sleep(0.1)


async def test_the_page_talks_to_the_offline_agent_in_both_languages(tmp_path: Path) -> None:
    wav = fake_mic_wav(tmp_path, "ja_reserve_car", lead_ms=3500, tail_ms=15000)
    async with offline_demo(tmp_path) as demo, launch_browser(wav, tmp_path, viewport=VIEWPORTS["1280"]) as context:
        page = await context.new_page()
        async with aiohttp.ClientSession() as http, http.get(f"{demo.url}/favicon.ico") as icon:
            assert icon.status == 200 and icon.content_type == "image/svg+xml"
        for lang in ("ja", "en"):
            await page.set_viewport_size(VIEWPORTS["1280"])
            await page.goto(f"{demo.url}/?lang={lang}")
            await wait_js(page, "window.__voiceGateway.state === 'idle'")
            note = page.locator("#offline-note")
            assert await note.is_visible() and ("オフラインデモ" if lang == "ja" else "Offline demo") in await note.inner_text()
            assert await page.evaluate(CUT_TEXT, "#agent") == []  # the agent's name is not cut off
            assert await page.evaluate("document.querySelector('#agent').selectedOptions[0].textContent") == "サポートデスク"
            await page.click("#mic")
            # the caller's words (a known recording) and the agent's fitting answer, both final
            await wait_js(page, "window.__voiceGateway.transcripts.some((t) => t.role === 'assistant' && t.final && t.text.includes('レンタカーのご予約'))", 40)
            transcripts = await page.evaluate("window.__voiceGateway.transcripts")
            said = [t["text"] for t in transcripts if t["role"] == "user"]
            assert "来週の土曜日に東京でレンタカーを借りたいです。" in said, transcripts
            greeting = page.locator("#transcript .bubble.assistant").first
            assert await greeting.get_attribute("data-final") == "true"
            assert not (await greeting.inner_text()).rstrip().endswith("…")
            assert await greeting.locator(".text").evaluate("(e) => getComputedStyle(e).opacity") == "1"
            await page.screenshot(path=str(screenshot_path(f"page-{lang}-1280-live.png")))
            session_id = await page.evaluate("window.__voiceGateway.sessionId")
            await page.click("#mic")  # end the conversation
            await wait_js(page, "window.__voiceGateway.state === 'ended'")
            for size in ("800", "phone"):
                await page.set_viewport_size(VIEWPORTS[size])
                assert await page.evaluate(NO_SIDEWAYS_SCROLL), size
                assert await page.evaluate(CUT_TEXT, "#agent") == [], size
                assert await page.evaluate("document.querySelector('#lang').getBoundingClientRect().height < 44"), size  # "日本語" on one line
                await page.screenshot(path=str(screenshot_path(f"page-{lang}-{size}.png")), full_page=True)
            record = await _store_record(demo, session_id)
            turns = [t for t in record["turns"]]
            assert len(turns) >= 3, record  # greeting, the caller, the answer
            assert not any(p in record["summary"] for p in ROLE_PREFIXES) and "借りたいです」" in record["summary"], record["summary"]


async def test_the_console_follows_a_demo_call_that_ends_by_itself(tmp_path: Path) -> None:
    async with offline_demo(tmp_path) as demo, launch_browser(None, tmp_path, viewport=VIEWPORTS["1280"]) as context:
        page = await context.new_page()
        await page.goto(f"{demo.url}/console")
        assert "発表者コンソール" in await page.inner_text("form") and "Presenter console" in await page.inner_text("form")
        await page.screenshot(path=str(screenshot_path("console-login-1280.png")))
        await page.fill("#token", TOKEN)
        await page.click("button[type=submit]")
        await wait_js(page, "window.__console && window.__console.connection === 'live'")
        assert await page.is_visible("#offline")
        header = await page.evaluate(SINGLE_ROW, ".bar")
        assert header["oneRow"] and header["inside"], header["boxes"]  # "Log out" stays on the header's line
        await page.click("#demo-call")
        await wait_js(page, "window.__console.liveIds().some((id) => id.startsWith('phone-'))", 20)
        await page.click("#sessions .row")
        view = page.locator("#live-view")
        await wait_js(page, "document.querySelector('#live-view').textContent.includes('かしこまりました')", 45)
        text = await view.inner_text()
        assert "来週の土曜日に東京でレンタカーを借りたいです。" in text and "caller speech" not in text
        assert "MediaStreaming" not in text and "subscriptionStarted" not in text  # no raw ACS event names
        assert await page.evaluate(CUT_TEXT, ".row.head span") == []  # every column header readable
        await page.screenshot(path=str(screenshot_path("console-live-1280.png")))
        await page.set_viewport_size(VIEWPORTS["800"])
        await page.screenshot(path=str(screenshot_path("console-live-800.png")))
        timeline = await page.evaluate("document.querySelector('#live-view .timeline').clientWidth")
        assert timeline >= 300, timeline  # the transcript is readable, not a column of single characters
        header = await page.evaluate(SINGLE_ROW, ".bar")
        assert header["oneRow"] and header["inside"], header["boxes"]
        await page.set_viewport_size(VIEWPORTS["phone"])
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await page.screenshot(path=str(screenshot_path("console-live-phone.png")))
        await page.set_viewport_size(VIEWPORTS["1280"])
        # the call ends by itself; nothing says "streaming" afterwards
        await wait_js(page, "document.querySelector('#live-view .health').textContent.trim() === 'ended'", 60)
        assert "phone audio streaming" not in await page.inner_text("#live-view .detail-head")
        await page.click(".tabs button[data-tab=history]")
        await wait_js(page, "[...document.querySelectorAll('#results .summary')].some((e) => e.textContent.includes('借りたいです」'))", 30)
        await page.click("#results .result")
        await wait_js(page, "document.querySelectorAll('#conversation .line').length >= 2", 10)
        summary = await page.inner_text("#conversation .summary-box")
        assert not any(p in summary for p in ROLE_PREFIXES) and "（" not in summary.split("」")[0], summary
        for size in ("1280", "800", "phone"):
            await page.set_viewport_size(VIEWPORTS[size])
            overflowing = await page.evaluate("[...document.querySelectorAll('#conversation > *, #results .top')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.slice(0, 40))")
            assert overflowing == [], (size, overflowing)  # nothing runs out of its panel
            await page.screenshot(path=str(screenshot_path(f"console-history-{size}.png")))
        await page.set_viewport_size(VIEWPORTS["1280"])
        await page.click(".tabs button[data-tab=setup]")
        states = await page.evaluate("[...document.querySelectorAll('#checks tbody tr td:first-child')].map((e) => e.textContent.trim())")
        assert states and set(states) <= {"OK", "missing", "optional", "demo"} and "OK" in states, states
        for size in ("1280", "800", "phone"):
            await page.set_viewport_size(VIEWPORTS[size])
            await page.screenshot(path=str(screenshot_path(f"console-setup-{size}.png")))
