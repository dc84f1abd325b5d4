"""The WebRTC emulator's sideband, as the real service has it: a server joins a WebRTC call with the real key on
``/v1/realtime?call_id=<id>`` (the id from the SDP answer's ``Location``), through the openai SDK; it gets the
session's events, and what it sends (``session.update``) applies to the call and shows on the data channel too."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from openai import AsyncOpenAI

from gateway.emulators.realtime.records import poll
from gateway.emulators.webrtc import WebRtcEmulator

API_KEY = "sk-sideband-test-key-01"


async def test_a_server_joins_the_call_on_its_sideband() -> None:
    emulator = WebRtcEmulator(api_keys={API_KEY})
    async with emulator.serve() as url, httpx.AsyncClient(timeout=10) as http:
        openai = AsyncOpenAI(
            api_key=API_KEY, base_url=f"{url}/v1", websocket_base_url=f"{url.replace('http', 'ws')}/v1"
        )
        key = await openai.realtime.client_secrets.create(
            session={"type": "realtime", "model": "gpt-realtime", "instructions": "minted"}
        )
        browser = RTCPeerConnection()
        channel = browser.createDataChannel("oai-events")
        seen_by_page: list[dict] = []
        channel.on("message", lambda m: seen_by_page.append(json.loads(m)))
        browser.addTransceiver("audio", direction="sendrecv")
        await browser.setLocalDescription(await browser.createOffer())
        answer = await http.post(f"{url}/v1/realtime/calls", content=browser.localDescription.sdp,
                                 headers={"Authorization": f"Bearer {key.value}", "Content-Type": "application/sdp"})  # fmt: skip
        assert answer.status_code == 201
        call_id = answer.headers["Location"].rsplit("/", 1)[-1]
        await browser.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
        try:
            await poll(lambda: any(e["type"] == "session.created" for e in seen_by_page), 10)  # the page is on
            # a wrong key, or a call that does not exist, is refused at the handshake
            wrong = AsyncOpenAI(
                api_key="sk-wrong", base_url=f"{url}/v1", websocket_base_url=f"{url.replace('http', 'ws')}/v1"
            )
            with pytest.raises(Exception):  # noqa: B017, PT011  # the SDK surfaces the HTTP refusal as websockets' error
                await asyncio.wait_for(wrong.realtime.connect(call_id=call_id).enter(), 5)
            async with openai.realtime.connect(call_id=call_id) as sideband:
                created = json.loads(await sideband.recv_bytes())
                assert created["type"] == "session.created" and created["session"]["instructions"] == "minted"
                await sideband.send({"type": "session.update", "session": {"type": "realtime", "instructions": "held"}})
                updated = json.loads(await sideband.recv_bytes())
                assert updated["type"] == "session.updated" and updated["session"]["instructions"] == "held"
            [call] = emulator.calls
            assert call.session_update_sources == ["sideband"] and call.session["instructions"] == "held"
            await poll(lambda: any(e["type"] == "session.updated" for e in seen_by_page), 5)  # mirrored to the page
        finally:
            await browser.close()
