"""A conversation started in a real browser (WebRTC) continues on an emulated phone call: the page shows a code,
the caller keys it in, and the phone agent gets the browser conversation and its tool results."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.emulators.acs import Dtmf, PlayConfig, Silence
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY, offline_stack
from gateway.emulators.webrtc import CallTool, WebRtcEmulator
from gateway.emulators.webrtc import Script as WebRtcScript
from tests.browser.conftest import fake_mic_wav, launch_browser, screenshot_path, wait_page
from tests.conftest import make_settings, speech

RESERVATION = {"locationId": "haneda", "startDate": "2031-05-10T09:00", "endDate": "2031-05-11T18:00", "customerName": "佐藤 花子", "vehicleType": "suv"}


@pytest.mark.browser
async def test_browser_conversation_continues_on_the_phone(tmp_path: Path) -> None:
    webrtc = WebRtcEmulator(
        api_keys={OPENAI_KEY},
        script=WebRtcScript(
            steps=[
                Say(text="レンタカー予約センターです。", clips=("hello",)),
                CallTool("create_reservation", RESERVATION, call_id="call_book", then=Say(text="ご予約番号は{output[reservation_number]}です。", clips=("hello",))),
            ],
            user_transcripts=["羽田でSUVを予約したいです。"],
        ),
    )
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script.replies("お電話ありがとうございます。ブラウザでのご予約の続きですね。"), pacing=Pacing(realtime_factor=2))
    wav = fake_mic_wav(tmp_path, "ja_reserve_car", lead_ms=2000, tail_ms=15000)
    async with offline_stack(webrtc=webrtc, realtime=realtime, acs=None) as stack:
        stack.acs.config.play = PlayConfig(duration_s=0.3)
        port = free_port()
        app = create_app(make_settings(tmp_path, **stack.settings(f"http://127.0.0.1:{port}", agent="rent-a-car")))
        gw = app.extensions["gateway"]
        async with serve_app(app, port=port) as url, launch_browser(wav, tmp_path) as context:
            page = await context.new_page()
            await page.goto(f"{url}/?lang=ja&channel=webrtc")
            await wait_page(page, "window.__voiceGateway.state === 'idle'")
            await page.click("#mic")
            await wait_page(page, "window.__voiceGateway.state === 'live'", 15)
            await wait_page(page, "window.__voiceGateway.transcripts.some(t => t.final && t.text.startsWith('ご予約番号は'))", 20)
            await page.click("#handoff")
            code = await wait_page(page, "window.__voiceGateway.handoffCode", 10)
            assert len(code) == 6 and code.isdigit()
            await page.screenshot(path=str(screenshot_path("page-handoff.png")), full_page=True)
            await page.click("#mic")  # the visitor hangs up in the browser and picks up the phone
            await wait_page(page, "window.__voiceGateway.state === 'ended'")

            call = await stack.acs.incoming_call(f"{url}/api/incoming-call", wav=speech("ja_greeting_reply"), script=[Silence(1000), *(Dtmf(d) for d in code), Silence(3000)])
            session = await realtime.wait_for_session(1)
            await session.wait_for(lambda s: any(r.instructions and "続きです" in r.instructions for r in s.responses), timeout=20)
            restored = " ".join(part.get("text", "") for item in session.created_items for part in item.get("content", []))
            assert "羽田でSUVを予約したいです。" in restored and "create_reservation" in restored
            assert "Step close" in session.instructions_history[-1]  # the browser's reservation had moved the scenario on
            await call.hang_up()
        await gw.writer.flush()
        [phone] = await gw.store.search_conversations(channel="phone")
        assert phone["continued_from"] and phone["continued_from"].startswith("webrtc-")
