"""Turn-taking on the browser's WebSocket path, end to end in real headless Chromium with a fake microphone.

Turn-based: the caller asks, the agent answers at length, the caller talks over the answer, then, once the answer has
played out, says something else. Proven from outside: the page never stopped the answer (no clear, no barge-in, the
reply was not cancelled); the words spoken over it never reached the recognizer; the caller's audio was admitted
again only after the page said it had played everything (``drained``), and the words after that were a turn.

Barge-in with pause and resume: a 「はい」 over the answer clears the page (the pause) and the answer resumes where the
page stopped: the page played, sample for sample, exactly as many samples as were synthesized.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from gateway.audio import AudioChunk, read_wav, resample, wav_bytes
from gateway.emulators.chat import Reply
from gateway.events import BackchannelIgnored
from tests.browser.conftest import FAKE_MIC_RATE, launch_browser, wait_page
from tests.conftest import speech, speech_text
from tests.integration.cascade_rig import cascade_rig, wait_until

GREETING = "はい、配車センターです。"
ASK = speech_text("ja_customer_lookup")
OVER = speech_text("ja_interrupt_wait")
NEXT = speech_text("ja_compact")
ANSWER = "ご案内をいたします。" * 4
AFTER = "コンパクトカーですね。"


def clip(name: str) -> bytes:
    chunk = read_wav(speech(name, 24))
    return resample(chunk.pcm, chunk.rate, FAKE_MIC_RATE)


def silence(ms: int) -> bytes:
    return b"\0\0" * (FAKE_MIC_RATE * ms // 1000)


def mic_file(directory: Path, name: str, body: bytes) -> Path:
    path = directory / name
    path.write_bytes(wav_bytes(AudioChunk(body, FAKE_MIC_RATE)))
    return path


def mic_wav(directory: Path) -> Path:
    """48 kHz for Chromium's fake mic: the greeting plays, a question, words over the answer (about 2 s into it),
    silence until the answer is surely over, the next words, then silence (Chromium loops the file)."""
    body = silence(3000) + clip("ja_customer_lookup") + silence(2500) + clip("ja_interrupt_wait") + silence(6000)
    return mic_file(directory, "mic-turns.wav", body + clip("ja_compact") + silence(20_000))


def ws_state(page: Any) -> Any:
    return page.evaluate("JSON.parse(JSON.stringify(window.__voiceGatewayWs))")


@pytest.mark.browser
async def test_turn_based_in_the_browser_nothing_interrupts_and_the_caller_is_heard_after_the_page_played_out(tmp_path: Path) -> None:
    drained_at: list[float] = []  # the page telling the gateway it had played everything, seen on its socket

    def watch_socket(ws: Any) -> None:
        ws.on("framesent", lambda payload: drained_at.append(time.monotonic()) if payload == '{"type":"drained"}' else None)

    async with cascade_rig(
        tmp_path, chat_script=[Reply(ANSWER), Reply(AFTER)], speech_script=[ASK, NEXT], greeting=GREETING, mode="turn_based"
    ) as rig:
        async with launch_browser(mic_wav(tmp_path), tmp_path) as context:
            page = await context.new_page()
            page.on("websocket", watch_socket)
            await page.goto(f"{rig.url}/?channel=websocket&lang=ja")
            await wait_page(page, "window.__voiceGateway.state === 'idle'")
            await page.click("#mic")
            await wait_page(page, "window.__voiceGateway.state === 'live'", 10)
            session = rig.session((await ws_state(page))["sessionId"])
            admitted: list[tuple[float, bool]] = []  # the gateway's decision per caller frame, as it changes
            decide = session.conversation.admits_caller_audio

            def watched() -> bool:
                verdict = decide()
                if not admitted or admitted[-1][1] != verdict:
                    admitted.append((time.monotonic(), verdict))
                return verdict

            session.conversation.admits_caller_audio = watched
            acked: list[float] = []  # when the gateway took in a "drained" from the page while the agent was audible
            take_ack = session.sink.drained

            def ack() -> None:
                if session.sink.audible():
                    acked.append(time.monotonic())
                take_ack()

            session.sink.drained = ack
            await wait_page(page, f"window.__voiceGateway.transcripts.some(t => t.final && t.text === '{AFTER}')", 25)
            await wait_page(page, "window.__voiceGatewayWs.played > 0 && !window.__voiceGatewayWs.agentSpeaking", 6)
            final = await ws_state(page)
            await page.click("#mic")  # hang up
            await wait_page(page, "window.__voiceGateway.state === 'ended'")
            await wait_until(lambda: rig.gw.hub.get(session.session_id) is None, 5)

    # nothing interrupted the answer: no barge-in from the page, no clear from the gateway, the reply completed
    assert final["bargeIns"] == 0 and final["cleared"] == 0 and final["serverClears"] == 0, final
    assert session.sink.clears == 0
    assert {t.status for t in session.engine.timings} == {"completed"}
    # the words over the answer never reached the recognizer: it heard the question and the next words, no more
    utterances = [u for r in rig.speech.recognitions for u in r.utterances]
    assert [u.text for u in utterances] == [ASK, NEXT]
    next_ms = len(read_wav(speech("ja_compact", 24)).pcm) / 48
    assert abs((utterances[1].end_ms - utterances[1].start_ms) - next_ms) < 700  # the next words, not the ones over
    # the caller's audio was shut out while the answer played and admitted again only after the page's "drained"
    changes = [t for t, _ in admitted]
    assert [verdict for _, verdict in admitted][:5] == [False, True, False, True, False], admitted  # greeting, answer
    for shut, reopened in zip(changes[0::2], changes[1::2], strict=False):
        assert any(shut < d <= reopened for d in acked), ("admitted without the page's drained", admitted, acked)
    assert len(drained_at) >= len(acked) >= 2  # the page really sent them (seen on its socket)
    answer = [r for r in rig.chat.completions if any(m.get("content") == ANSWER for m in r.messages if m["role"] == "assistant")]
    assert answer, "the whole answer is in the history the model saw next (nothing was cut)"


@pytest.mark.browser
async def test_a_backchannel_in_the_browser_pauses_and_the_answer_resumes_where_the_page_stopped(tmp_path: Path) -> None:
    hai = speech_text("ja_backchannel_hai")
    body = silence(3000) + clip("ja_customer_lookup") + silence(2500) + clip("ja_backchannel_hai") + silence(20_000)
    async with cascade_rig(
        tmp_path, chat_script=[Reply(ANSWER), Reply("相づちへの返事（出てはいけない）")], speech_script=[ASK, hai], greeting=GREETING, barge_in_min_ms=1500
    ) as rig:
        async with launch_browser(mic_file(tmp_path, "mic-backchannel.wav", body), tmp_path) as context:
            page = await context.new_page()
            await page.goto(f"{rig.url}/?channel=websocket&lang=ja")
            await wait_page(page, "window.__voiceGateway.state === 'idle'")
            await page.click("#mic")
            await wait_page(page, "window.__voiceGateway.state === 'live'", 10)
            session = rig.session((await ws_state(page))["sessionId"])
            pacer = session.conversation.pacer
            await wait_until(lambda: pacer.resumes == 1, 20)  # paused over the はい, then resumed
            await wait_until(lambda: any(isinstance(e, BackchannelIgnored) for e in rig.gw.hub.history(session.session_id)), 8)
            await wait_until(lambda: not pacer.holding(), 10)
            synthesized = sum(len(s.audio) for s in rig.speech.syntheses) // 2  # samples, 24 kHz
            await wait_page(page, f"window.__voiceGatewayWs.playedSamples >= {synthesized} && !window.__voiceGatewayWs.agentSpeaking", 10)
            final = await ws_state(page)
            await page.click("#mic")  # hang up
            await wait_page(page, "window.__voiceGateway.state === 'ended'")

    # paused at the page (a clear, nothing cancelled, no reply to the はい), then resumed
    assert pacer.pauses == 1 and final["serverClears"] == 1 and final["bargeIns"] == 0, final
    assert {t.status for t in session.engine.timings} == {"completed"}
    assert not any("出てはいけない" in s.text for s in rig.speech.syntheses)
    # the page played every synthesized sample exactly once: the resume began at the sample after the last it played
    assert session.sink.reported_played_ms, "the page answered the pause's clear with what it had played"
    assert final["playedSamples"] == synthesized, (final["playedSamples"], synthesized)
