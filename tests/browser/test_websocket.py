"""The browser's WebSocket path, end to end: real headless Chromium in WebSocket mode with a fake microphone playing
fixture speech; the gateway runs the cascade engine against the Speech emulator (through the real Speech SDK) and
the chat emulator (through the real openai SDK).

What is proven from outside: the page's microphone audio reached the speech service at the right rate (utterance
lengths match the fixtures) and was recognized; the reply streamed back with a tool call run on the gateway; the
page played the synthesized audio (its output level); talking over the agent stopped playback at once and
cancelled the reply on the gateway; no key or secret is served; a screenshot of the page is saved.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.audio import AudioChunk, read_wav, resample, wav_bytes
from gateway.emulators.chat import Reply, ToolCall
from tests.browser.conftest import FAKE_MIC_RATE, launch_browser, page_state, screenshot_path, wait_page
from tests.conftest import speech, speech_text
from tests.integration.cascade_rig import CHAT_KEY, SPEECH_KEY, cascade_rig, wait_until

logger = logging.getLogger(__name__)

GATEWAY_SECRET = "gw-secret-NEVER-SERVED-2468013579"
GREETING = "はい、サポートデスクです。"
LOOKUP = speech_text("ja_customer_lookup")
INTERRUPT = speech_text("ja_interrupt_wait")
REPLY = "{name}様ですね。ご契約は{plan}です。" + "".join(f"ご案内の{n}番目の文です。" for n in range(1, 9))
AFTER = "はい、お待ちします。"
LEAD_MS, GAP_MS = 3200, 3300  # the gap: the answer (held until the caller has been quiet 1 s) is playing when the interruption starts


def two_utterances_wav(directory: Path) -> Path:
    """48 kHz mono for Chromium's fake mic: silence (the greeting plays), a question, a pause while the agent
    answers, an interruption over the answer, then a long silence (Chromium loops the file)."""

    def clip(name: str) -> bytes:
        chunk = read_wav(speech(name, 24))
        return resample(chunk.pcm, chunk.rate, FAKE_MIC_RATE)

    def silence(ms: int) -> bytes:
        return b"\0\0" * (FAKE_MIC_RATE * ms // 1000)

    body = silence(LEAD_MS) + clip("ja_customer_lookup") + silence(GAP_MS) + clip("ja_interrupt_wait") + silence(25_000)
    path = directory / "mic-websocket.wav"
    path.write_bytes(wav_bytes(AudioChunk(body, FAKE_MIC_RATE)))
    return path


def ws_state(page: Any) -> Any:
    return page.evaluate("JSON.parse(JSON.stringify(window.__voiceGatewayWs))")


@pytest.mark.browser
async def test_websocket_conversation_in_the_browser(tmp_path: Path) -> None:
    chat = [ToolCall("get_customer_info", {"phone_number": "090-0000-0000"}), Reply(REPLY, format_tool_result=True), Reply(AFTER)]
    wav = two_utterances_wav(tmp_path)
    texts: list[tuple[str, str]] = []  # everything the gateway sent to or received from the page, as text
    async with cascade_rig(
        tmp_path, chat_script=chat, speech_script=[LOOKUP, INTERRUPT], greeting=GREETING, gateway_secret=GATEWAY_SECRET
    ) as rig:
        async with launch_browser(wav, tmp_path) as context:
            page = await context.new_page()

            async def keep_body(response: Any) -> None:
                try:
                    texts.append((response.url, await response.text()))
                except Exception:  # redirects and aborted requests have no body
                    pass

            def watch_socket(ws: Any) -> None:
                ws.on("framereceived", lambda payload: texts.append((ws.url, payload if isinstance(payload, str) else "")))
                ws.on("framesent", lambda payload: texts.append((ws.url, payload if isinstance(payload, str) else "")))

            page.on("response", keep_body)
            page.on("websocket", watch_socket)
            await page.goto(f"{rig.url}/?channel=websocket&lang=ja")
            await wait_page(page, "window.__voiceGateway.state === 'idle'")
            await page.click("#mic")
            await wait_page(page, "window.__voiceGateway.state === 'live'", 10)
            state = await page_state(page)
            assert state["channel"] == "websocket" and state["sessionId"].startswith("browser-")
            session = rig.session(state["sessionId"])
            assert await page.is_enabled("#handoff")  # the session token reached the page: "continue by phone" works

            # the greeting plays in the page
            await wait_page(page, "window.__voiceGatewayWs.played > 1000", 6)
            # the question is recognized and answered with the tool's result, spoken sentence by sentence
            try:
                await wait_page(page, "window.__voiceGateway.toolCalls.some(c => c.ok === true)", 14)
            except Exception:  # say what the speech service heard, for the failure report
                heard = [(r.audio_ms, [(u.text, u.start_ms, u.end_ms) for u in r.utterances]) for r in rig.speech.recognitions]
                logger.error("page state %s; speech service heard %s", await ws_state(page), heard)
                raise
            await wait_page(page, "window.__voiceGateway.transcripts.some(t => t.role === 'assistant' && t.text.startsWith('山田 太郎様'))", 5)
            await wait_page(page, "window.__voiceGatewayWs.agentSpeaking", 5)
            # ...until the caller talks over it: playback stops at once, the reply is cancelled on the gateway
            await wait_page(page, "window.__voiceGatewayWs.cleared >= 1", 8)
            at_clear = await ws_state(page)
            await asyncio.sleep(0.3)  # the interrupted reply's audio still on the wire must not refill the queue
            after_clear = await ws_state(page)
            await wait_until(lambda: session.engine.timings and session.engine.timings[1].status == "cancelled", 5)
            await page.screenshot(path=str(screenshot_path("page-websocket.png")), full_page=True)
            # the interruption is answered
            await wait_page(page, f"window.__voiceGateway.transcripts.some(t => t.final && t.text === '{AFTER}')", 10)
            await wait_page(page, "window.__voiceGatewayWs.played > 0 && !window.__voiceGatewayWs.agentSpeaking", 6)
            final = await ws_state(page)
            # a dropped socket: the page reconnects by itself to the same conversation
            await session.link.close(1012, "test: connection dropped")
            await wait_page(page, "window.__voiceGatewayWs.reconnects === 1 && window.__voiceGatewayWs.state === 'live'", 8)
            assert session.reconnects == 1 and rig.gw.hub.get(session.session_id) is not None
            state = await page_state(page)
            assert state["status"]["key"] == "connected_websocket" and state["sessionId"] == session.session_id

            await page.click("#mic")  # hang up
            await wait_page(page, "window.__voiceGateway.state === 'ended'")
            await wait_until(lambda: rig.gw.hub.get(state["sessionId"]) is None, 5)

    logger.info("page audio: %s", {k: final[k] for k in ("contextRate", "framesSent", "framesReceived", "played", "cleared", "bargeIns", "serverClears", "underruns", "agentLevelPeak", "micRmsPeak")})
    # the mic audio reached the speech service at the right rate: utterance lengths match the fixtures
    utterances = [u for r in rig.speech.recognitions for u in r.utterances]
    assert [u.text for u in utterances[:2]] == [LOOKUP, INTERRUPT]
    for utterance, name in zip(utterances, ("ja_customer_lookup", "ja_interrupt_wait"), strict=False):
        fixture_ms = len(read_wav(speech(name, 24)).pcm) / 48
        assert abs((utterance.end_ms - utterance.start_ms) - fixture_ms) < 700, (name, utterance.end_ms - utterance.start_ms, fixture_ms)
    assert rig.speech.recognitions[0].sample_rate == 16_000 and final["framesSent"] > 300
    # the tool ran on the gateway; its result reached the model and the page
    assert [(c["name"], c["ok"]) for c in state["toolCalls"]] == [("get_customer_info", True)]
    assert state["toolCalls"][0]["output"]["name"] == "山田 太郎"
    assert rig.chat.completions[1].tool_results[0]["json"]["name"] == "山田 太郎"
    finals = [(t["role"], t["text"]) for t in state["transcripts"] if t["final"]]
    assert ("user", LOOKUP) in finals and ("user", INTERRUPT) in finals and ("assistant", GREETING) in finals
    # the page played real synthesized audio
    assert final["agentLevelPeak"] > 0.02 and final["framesReceived"] > 20
    assert final["underruns"] <= 2  # gap-free: the queue ran dry only at the end of the greeting and of the answer
    # barge-in: playback stopped with most of the long reply still unplayed, and the model only kept what was heard
    assert at_clear["bargeIns"] + at_clear["serverClears"] >= 1 and at_clear["queuedMs"] < 200
    assert after_clear["queuedMs"] < 200, after_clear
    reply_ms = sum(len(s.audio) for s in rig.speech.syntheses[1:-1]) / 48
    heard = [m["content"] for m in rig.chat.completions[2].messages if m["role"] == "assistant" and m.get("content")]
    assert heard[-1].startswith("山田 太郎様") and len(heard[-1]) < len(REPLY)
    assert final["played"] < (len(rig.speech.syntheses[0].audio) / 48 + reply_ms + len(rig.speech.syntheses[-1].audio) / 48) - 2000
    assert session.sink.reported_played_ms  # the page said how much it had played when it flushed
    # no key or secret in anything served to the page or sent over its socket
    assert any("/static/websocket.js" in url for url, _ in texts) and any("/ws/browser" in url for url, _ in texts)
    for url, body in texts:
        for secret in (SPEECH_KEY, CHAT_KEY, GATEWAY_SECRET):
            assert secret not in body, f"a secret leaked in {url}"
    assert screenshot_path("page-websocket.png").stat().st_size > 10_000
