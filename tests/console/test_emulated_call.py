"""A demo phone call started from the console: the in-process ACS emulator rings the gateway's real phone
channel, which answers it through the emulator (never the real ACS), and the console shows it like a real call."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gateway.emulators.acs import PlayConfig
from gateway.emulators.realtime import Pacing, RealtimeEmulator
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY

from .conftest import AUTH, Served, console_app, served_console
from .sse import SseReader


@contextlib.asynccontextmanager
async def demo_console(tmp_path: Path) -> AsyncIterator[Served]:
    """A gateway with no ACS at all, a Realtime emulator behind it, and the console's demo calls playing short."""
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, pacing=Pacing(realtime_factor=4.0))
    async with (
        serve_app(realtime.app) as realtime_url,
        served_console(tmp_path, openai_api_key=OPENAI_KEY, openai_base_url=f"{realtime_url}/v1") as served,
    ):
        served.console.demo_calls.emulator_options = {"play": PlayConfig(duration_s=0.3)}
        yield served


@contextlib.asynccontextmanager
async def twilio_demo_console(tmp_path: Path, public_base_url: str | None = None) -> AsyncIterator[Served]:
    """A gateway whose Twilio line is configured (an account the demo emulator signs as; nothing reaches Twilio),
    public at ``public_base_url`` (default: its loopback address)."""
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, pacing=Pacing(realtime_factor=4.0))
    port = free_port()
    async with serve_app(realtime.app) as realtime_url:
        app = console_app(
            tmp_path,
            openai_api_key=OPENAI_KEY,
            openai_base_url=f"{realtime_url}/v1",
            public_base_url=public_base_url or f"http://127.0.0.1:{port}",
            twilio_account_sid="AC" + "7" * 32,
            twilio_auth_token="demo-line-test-token",
            twilio_api_base=f"http://127.0.0.1:{free_port()}",  # nothing listens: demo calls must not use it
        )
        async with serve_app(app, port=port) as url:
            served = Served(app, url)
            served.console.twilio_demo_calls.emulator_options = {"say_max_s": 0.3}
            yield served


async def test_a_twilio_demo_call_is_a_live_twilio_session_with_its_transcript(tmp_path: Path) -> None:
    async with twilio_demo_console(tmp_path) as served:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            status = await (await http.get(f"{served.url}/api/console/status")).json()
            assert status["emulated_calls"]["carriers"]["twilio"] == {"available": True, "reason": None}
            async with http.get(f"{served.url}/api/console/events") as response:
                feed = SseReader(response)
                await feed.until(lambda m: m.event == "snapshot")
                placed = await http.post(f"{served.url}/api/console/emulated-call", json={"carrier": "twilio"})
                assert placed.status == 201, await placed.text()
                call = await placed.json()
                sid = call["session_id"]

                def has(kind: str, **fields: object):
                    return lambda m: m.event == "batch" and any(
                        e["s"] == sid and e["kind"] == kind and all(e.get(k) == v for k, v in fields.items()) for e in m.data["events"]
                    )

                await feed.until(has("session.started"), timeout=10)
                started = next(e for e in feed.events() if e["s"] == sid and e["kind"] == "session.started")
                assert started["channel"] == "twilio" and started["caller"] == call["caller"]
                await feed.until(has("transcript.final", role="user"), timeout=30)  # the recorded caller, transcribed
                await feed.until(has("session.ended"), timeout=60)  # the demo caller hangs up after the answer
            emulated = served.console.twilio_demo_calls.emulator.calls[call["call_connection_id"]]
            assert emulated.ended_by == "caller" and emulated.heard_pcm()  # the agent's answer reached the caller
            bad = await http.post(f"{served.url}/api/console/emulated-call", json={"carrier": "pigeon"})
            assert bad.status == 400 and "acs, twilio" in (await bad.json())["detail"]
        await served.gw.writer.flush()
        stored = await served.gw.store.conversation(sid)
        assert stored is not None and stored["channel"] == "twilio" and stored["caller"] == call["caller"]


async def test_a_twilio_demo_call_reaches_a_gateway_behind_its_public_https_url(tmp_path: Path) -> None:
    """Deployed, Twilio signs https://<public host>/…: the demo emulator signs those URLs and dials loopback."""
    async with twilio_demo_console(tmp_path, public_base_url="https://voice.example.test") as served:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            placed = await http.post(f"{served.url}/api/console/emulated-call", json={"carrier": "twilio"})
            assert placed.status == 201, await placed.text()
            call = await placed.json()
        emulated = served.console.twilio_demo_calls.emulator.calls[call["call_connection_id"]]
        await emulated.wait_for(lambda c: c.stream is not None and c.stream.connected_at is not None, 15)
        assert emulated.webhooks[0].url == "https://voice.example.test/api/twilio/voice"
        assert emulated.stream.spec.url.startswith("wss://voice.example.test/ws/twilio/")
        await emulated.hang_up()


async def test_a_demo_call_is_a_live_phone_session_until_the_console_ends_it(tmp_path: Path) -> None:
    async with demo_console(tmp_path) as served:
        gw = served.gw
        assert not gw.settings.acs_configured  # no real ACS at all: the demo needs none
        async with aiohttp.ClientSession(headers=AUTH) as http, http.get(f"{served.url}/api/console/events") as response:
            feed = SseReader(response)
            await feed.until(lambda m: m.event == "snapshot")
            placed = await http.post(f"{served.url}/api/console/emulated-call")
            assert placed.status == 201, await placed.text()
            call = await placed.json()
            sid = call["session_id"]
            assert sid.startswith("phone-") and call["caller"].startswith("+81")

            def has(kind: str):
                return lambda m: m.event == "batch" and any(e["s"] == sid and e["kind"] == kind for e in m.data["events"])

            await feed.until(has("session.started"), timeout=10)
            started = next(e for e in feed.events() if e["s"] == sid and e["kind"] == "session.started")
            assert started["channel"] == "phone" and started["caller"] == call["caller"]
            await feed.until(has("health"), timeout=15)  # the emulator's media socket reached the gateway
            assert served.console.demo_calls.emulator is not None
            emulated = served.console.demo_calls.emulator.calls[call["call_connection_id"]]
            assert emulated.callback_uri.startswith(served.url)  # callbacks came back to this gateway on loopback

            ended = await http.post(f"{served.url}/api/console/sessions/{sid}/end")
            assert ended.status == 200
            await feed.until(has("session.ended"), timeout=10)
            operations = served.console.demo_calls.emulator.operations(call["call_connection_id"])
            assert operations[0] == "answer" and operations[-1] == "terminate" and emulated.disconnected_by == "gateway"
        await gw.writer.flush()
        stored = await gw.store.conversation(sid)
        assert stored is not None and stored["channel"] == "phone" and stored["caller"] == call["caller"] and stored["ended_at"]


@pytest.mark.browser
async def test_the_demo_call_button_shows_the_call_live_in_the_page(tmp_path: Path) -> None:
    from .browser import artifact, chromium_page, login, needs_chromium, wait_js
    from .conftest import TOKEN

    needs_chromium()
    async with demo_console(tmp_path) as served:
        served.console.demo_calls.lead_silence_ms = 200
        async with chromium_page() as page:
            await login(page, served.url, TOKEN)
            await page.locator("#demo-call:not([disabled])").click()
            await wait_js(page, "window.__console.liveIds().some((id) => id.startsWith('phone-'))")
            detail = page.locator("#live-view")
            await detail.locator(".line.user").first.wait_for(timeout=20_000)  # the recorded caller, transcribed
            await detail.locator(".line.assistant").first.wait_for(timeout=20_000)  # and the agent's answer
            await page.screenshot(path=str(artifact("console-demo-call.png")))
            await detail.locator("button.danger").click()
            await detail.locator(".banner", has_text="Ended").wait_for()
            assert page.errors == []  # type: ignore[attr-defined]
