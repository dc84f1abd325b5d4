"""The console in real headless Chromium: two live sessions of different channels, pushed as they happen."""

from __future__ import annotations

import asyncio

import pytest

from gateway.events import (
    BargeIn,
    Health,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptDelta,
    TranscriptFinal,
    TurnLatency,
)
from gateway.hub import SessionInfo

from .browser import artifact, chromium_page, login, needs_chromium, wait_js
from .conftest import TOKEN, Served

pytestmark = pytest.mark.browser


def _talk(served: Served, sid: str, lines: list[tuple[str, str]], latency: float) -> None:
    for n, (role, text) in enumerate(lines):
        served.gw.hub.publish(sid, TranscriptFinal(role, text, f"{sid}-{n}"))  # type: ignore[arg-type]
        if role == "assistant":
            served.gw.hub.publish(sid, TurnLatency(latency + 37 * n))


async def test_two_live_sessions_of_different_channels(served: Served) -> None:
    needs_chromium()
    hub = served.gw.hub
    ended: list[str] = []

    async def hang_up() -> None:
        ended.append("phone")
        hub.close("phone-3f9a", "hung_up")

    # one session already live when the page opens, one that starts while it watches
    hub.open(SessionInfo("webrtc-7c21", "webrtc", "support-desk", "browser"))
    _talk(served, "webrtc-7c21", [("assistant", "お電話ありがとうございます。サポートデスクです。"), ("user", "請求書の送付先を変えたいです。")], 640)
    async with chromium_page() as page:
        await login(page, served.url, TOKEN)
        await wait_js(page, "window.__console.renderedIds().length === 1")

        hub.open(SessionInfo("phone-3f9a", "phone", "rent-a-car", "+819012345678"), end=hang_up)
        hub.publish("phone-3f9a", Health("media", "ACS media socket connected"))
        await wait_js(page, "window.__console.renderedIds().length === 2")
        assert set(await page.evaluate("window.__console.renderedIds()")) == {"webrtc-7c21", "phone-3f9a"}
        await page.click('#sessions .row[data-id="phone-3f9a"]')

        _talk(served, "phone-3f9a", [("assistant", "はい、レンタカー予約センターです。"), ("user", "来週の土曜日に東京でレンタカーを借りたいです。")], 820)
        args = '{"location_id": "tokyo-station", "vehicle_type": "compact"}'
        hub.publish("phone-3f9a", ToolCallStarted("call-1", "check_availability", args))
        await asyncio.sleep(0.15)  # the result arrives in a later batch and completes the entry in place
        hub.publish("phone-3f9a", ToolCallFinished("call-1", "check_availability", args, True, '{"ok": true, "vehicles": ["トヨタ ヤリス"]}', 23.4))
        hub.publish("phone-3f9a", TranscriptFinal("assistant", "東京駅八重洲口店でコンパクトカーがご用意できます。", "a-2"))
        hub.publish("phone-3f9a", TurnLatency(905.0))
        hub.publish("phone-3f9a", BargeIn(1280))
        hub.publish("phone-3f9a", TranscriptDelta("user", "すみません、ちょっと", "u-3"))

        detail = page.locator("#live-view")
        await detail.locator(".tool.ok").wait_for()
        await detail.locator(".line.partial").wait_for()
        text = await detail.inner_text()
        for expected in ("来週の土曜日に東京でレンタカーを借りたいです。", "check_availability", "tokyo-station", "トヨタ ヤリス", "905 ms", "barge-in", "media", "+819012345678"):
            assert expected in text, expected
        assert await detail.locator(".bars i").count() == 2  # a bar for every turn's latency
        assert await page.inner_text("#counts") == "2 live · Phone 1 · WebRTC 1"  # one name per channel, as the page says it
        row = await page.inner_text('#sessions .row[data-id="webrtc-7c21"]')
        assert "請求書の送付先を変えたいです。" in row and "640 ms" in row
        await page.screenshot(path=str(artifact("console.png")))

        # the presenter ends the phone call from the console
        await detail.locator("button.danger").click()
        await detail.locator(".banner", has_text="Ended (ended by the gateway)").wait_for()
        assert ended == ["phone"] and await page.evaluate("window.__console.liveIds()") == ["webrtc-7c21"]

        # a session that was live before the page opened shows what was said before, from the hub's history
        await page.click('#sessions .row[data-id="webrtc-7c21"]')
        await detail.get_by_text("請求書の送付先を変えたいです。").wait_for()
        assert "お電話ありがとうございます。" in await detail.inner_text()
        assert page.errors == []  # type: ignore[attr-defined]


async def test_history_search_shows_transcript_and_summary(served: Served) -> None:
    needs_chromium()
    hub = served.gw.hub
    for sid, channel, agent, caller, words in [
        ("phone-h1", "phone", "rent-a-car", "+819011112222", "来週の土曜日に東京でレンタカーを借りたいです。"),
        ("webrtc-h2", "webrtc", "support-desk", "browser", "請求書の送付先を変えたいです。"),
    ]:
        hub.open(SessionInfo(sid, channel, agent, caller))
        hub.publish(sid, TranscriptFinal("user", words))
        hub.publish(sid, TranscriptFinal("assistant", "承知しました。"))
        hub.close(sid, "hung_up")
    await served.gw.writer.flush()
    async with chromium_page() as page:
        await login(page, served.url, TOKEN)
        await page.click(".tabs button[data-tab=history]")
        await page.locator("#results .result").nth(1).wait_for()
        await page.fill("#search input[name=q]", "レンタカー")
        await page.click("#search button[type=submit]")
        await wait_js(page, "document.querySelectorAll('#results .result').length === 1")
        await page.click("#results .result")
        conversation = page.locator("#conversation")
        await conversation.locator(".summary-box").wait_for()
        text = await conversation.inner_text()
        assert "phone-h1" in text and "+819011112222" in text and "承知しました。" in text
        assert "自動まとめ" in await conversation.locator(".summary-box").inner_text()
        await page.screenshot(path=str(artifact("console-history.png")))
        assert page.errors == []  # type: ignore[attr-defined]


async def test_a_twilio_demo_call_started_from_the_console_shows_its_transcript(tmp_path) -> None:
    """The presenter picks Twilio next to "Start demo call": the call is live as a Twilio session, transcribed."""
    from .test_emulated_call import twilio_demo_console

    needs_chromium()
    async with twilio_demo_console(tmp_path) as served:
        served.console.twilio_demo_calls.lead_silence_ms = 200
        async with chromium_page() as page:
            await login(page, served.url, TOKEN)
            carrier = page.locator("#demo-carrier")
            await carrier.locator("option[value=twilio]:not([disabled])").wait_for(state="attached")
            assert await carrier.get_attribute("aria-label") in ("Carrier of the demo call", "デモ通話の回線")
            await carrier.select_option("twilio")
            await page.locator("#demo-call:not([disabled])").click()
            await wait_js(page, "window.__console.liveIds().some((id) => id.startsWith('phone-'))")
            detail = page.locator("#live-view")
            await detail.locator(".line.user").first.wait_for(timeout=20_000)  # the recorded caller, transcribed
            await detail.locator(".line.assistant").first.wait_for(timeout=20_000)  # and the agent's answer
            assert "Twilio" in await detail.inner_text()  # the channel is named Twilio in the call's header
            assert await page.locator("#sessions .chan[data-channel=twilio]", has_text="Twilio").count() == 1
            await page.screenshot(path=str(artifact("console-twilio-demo-call.png")))
            assert page.errors == []  # type: ignore[attr-defined]
