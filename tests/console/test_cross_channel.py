"""The presenter's view: a real browser conversation (WebRTC, fake microphone) and an emulated phone call placed
from the console are live in the console at the same time; when they end, both are in the searchable history."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.emulators.acs import PlayConfig
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.serving import serve_app
from gateway.emulators.stack import OPENAI_KEY, offline_stack
from gateway.emulators.webrtc import Script as WebRtcScript
from gateway.emulators.webrtc import WebRtcEmulator
from tests.browser.conftest import fake_mic_wav, launch_browser, wait_page
from tests.conftest import make_settings

from .browser import artifact, login, wait_js

TOKEN = "console-token-for-cross-channel"


@pytest.mark.browser
async def test_browser_and_phone_sessions_live_in_the_console_at_once(tmp_path: Path) -> None:
    webrtc = WebRtcEmulator(api_keys={OPENAI_KEY}, script=WebRtcScript(steps=[Say(text="ブラウザのお客様、いらっしゃいませ。", clips=("hello",))]))
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script.replies("お電話ありがとうございます。"), pacing=Pacing(realtime_factor=2))
    wav = fake_mic_wav(tmp_path, "ja_greeting_reply", lead_ms=1500, tail_ms=20000)
    async with offline_stack(webrtc=webrtc, realtime=realtime) as stack:
        settings = make_settings(tmp_path, **{k: v for k, v in stack.settings("").items() if k.startswith("openai")}, console_token=TOKEN)
        app = create_app(settings)
        gw = app.extensions["gateway"]
        app.blueprints["console"].demo_calls.emulator_options = {"play": PlayConfig(duration_s=0.3)}
        async with serve_app(app) as url, launch_browser(wav, tmp_path) as context:

            visitor = await context.new_page()
            await visitor.goto(f"{url}/?lang=ja&channel=webrtc")
            await wait_page(visitor, "window.__voiceGateway.state === 'idle'")
            await visitor.click("#mic")
            await wait_page(visitor, "window.__voiceGateway.state === 'live'", 15)

            presenter = await context.new_page()
            presenter.errors = []  # type: ignore[attr-defined]
            await login(presenter, url, TOKEN)
            await wait_js(presenter, "window.__console.renderedIds().some(id => id.startsWith('webrtc-'))", 10)
            await presenter.click("#demo-call")
            await wait_js(presenter, "window.__console.renderedIds().some(id => id.startsWith('phone-'))", 15)
            channels = {s.channel for s in gw.hub.live_sessions()}
            assert channels == {"webrtc", "phone"}
            phone = next(s for s in gw.hub.live_sessions() if s.channel == "phone")
            for _ in range(150):  # let the demo caller finish a turn, so the picture shows a conversation
                if phone.turns:
                    break
                await presenter.wait_for_timeout(100)
            await presenter.screenshot(path=str(artifact("console-cross-channel.png")))

            for session in gw.hub.live_sessions():
                await gw.hub.end(session.session_id)
            await wait_js(presenter, "window.__console.renderedIds().length === 0", 15)
        await gw.writer.flush()
        ended = await gw.store.search_conversations()
        assert {c["channel"] for c in ended} == {"webrtc", "phone"}
        assert all(c["summary"] for c in ended)

