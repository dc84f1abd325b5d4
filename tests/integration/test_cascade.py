"""The WebSocket fallback end to end: a page stand-in streams fixture speech over ``/ws/browser``; the cascade
engine recognizes it through the real Speech SDK, answers through the real openai SDK (with a tool call through the
registry) and streams the synthesized reply back, sentence by sentence, as PCM."""

from __future__ import annotations

import asyncio
import json

import pytest

from channels.browser import wire
from gateway.emulators.chat import Reply, ToolCall
from gateway.engines.chat_history import ChatHistory
from gateway.engines.sentences import SentenceSplitter, split_all
from gateway.events import BargeIn, TranscriptAmended, TranscriptFinal
from tests.conftest import speech_text
from tests.integration.cascade_rig import CHAT_KEY, SPEECH_KEY, PageClient, cascade_rig, silence, utterance, wait_until

GREETING = "はい、サポートデスクです。"
LOOKUP = speech_text("ja_customer_lookup")
REPLY = "{name}様ですね。ご契約は{plan}です。ほかにご用件はございますか？"
LONG_REPLY = "".join(f"ご案内の{n}番目の文です。" for n in range(1, 13))


async def test_speech_to_tool_call_to_streamed_synthesized_reply(tmp_path) -> None:
    chat = [ToolCall("get_customer_info", {"phone_number": "090-0000-0000"}), Reply(REPLY, format_tool_result=True)]
    async with cascade_rig(tmp_path, chat_script=chat, speech_script=[LOOKUP], greeting=GREETING) as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello(agent="test-desk")
            assert ready["type"] == "ready" and ready["sample_rate"] == 24_000 and ready["agent"] == "test-desk"
            assert ready["session_id"].startswith("browser-") and ready["token"] and ready["resumed"] is False
            session = rig.session(ready["session_id"])
            # the greeting is synthesized at once (no LLM round trip) and streamed before the caller speaks
            await wait_until(lambda: any(s.completed for s in rig.speech.syntheses), 5)
            assert rig.speech.texts_synthesized == [GREETING] and not rig.chat.requests
            await wait_until(lambda: not session.conversation.agent_audible(), 5)  # speaking over it is a backchannel
            await page.stream(silence(300) + utterance("ja_customer_lookup") + silence(1200))

            result = await page.wait_message(lambda m: m["type"] == "tool_result", 10)
            call = page.messages("tool_call")[0]
            assert call["name"] == "get_customer_info" and json.loads(call["arguments"]) == {"phone_number": "090-0000-0000"}
            assert result["ok"] and result["output"]["name"] == "山田 太郎" and result["call_id"] == call["call_id"]
            final = await page.wait_message(lambda m: m["type"] == "transcript" and m["role"] == "assistant" and m["final"] and "山田" in m["text"])
            assert final["text"] == "山田 太郎様ですね。ご契約はプレミアムプランです。ほかにご用件はございますか？"
            await wait_until(lambda: len(rig.speech.syntheses) == 4 and all(s.completed for s in rig.speech.syntheses), 10)
            await wait_until(lambda: len(page.audio()) >= sum(len(s.audio) for s in rig.speech.syntheses), 5)

            # the caller's words reached the chat history; the tool ran through the registry; prompt chaining moved on
            user = [m for m in page.messages("transcript") if m["role"] == "user"]
            assert [m["text"] for m in user] == [LOOKUP] and user[0]["final"]
            first, second = rig.chat.completions[:2]
            assert first.stream and first.last_user_text == LOOKUP and "get_customer_info" in first.tool_names
            assert first.messages[1] == {"role": "assistant", "content": GREETING}
            assert second.tool_results[0]["json"]["name"] == "山田 太郎"
            assert "Step identify" in first.system_text and "Step assist" in second.system_text
            # sentence by sentence: each sentence was synthesized on its own, the phone number read digit by digit
            assert rig.speech.texts_synthesized[1:] == ["山田 太郎様ですね。", "ご契約はプレミアムプランです。", "ほかにご用件はございますか？"]
            recognition = rig.speech.recognitions[0]
            assert recognition.language == "ja-JP" and recognition.sample_rate == 16_000
            assert rig.speech.syntheses[0].output_format == "raw-24khz-16bit-mono-pcm"
            assert rig.speech.syntheses[0].voice == "ja-JP-NanamiNeural"
            # the page got exactly the synthesized PCM, in order
            assert page.audio() == b"".join(bytes(s.audio) for s in rig.speech.syntheses)

            # latency record for benchmarks: first LLM sentence → first audio frame sent
            timing = session.engine.timings[-1]
            await wait_until(lambda: timing.status, 3)
            sent_at = session.sink.first_frame_sent[timing.item_ids[-1]]
            assert timing.status == "completed" and 0 <= sent_at - timing.first_sentence_at < 1.0
            latencies = session.sentence_to_audio_ms()
            assert len(latencies) == 2 and all(0 <= ms < 1000 for ms in latencies)  # the greeting and the reply
            hub = rig.gw.hub.history(ready["session_id"])
            assert any(isinstance(e, TranscriptFinal) and e.role == "user" and e.text == LOOKUP for e in hub)
            await page.send_json({"type": "stop"})
            await page.wait_message(lambda m: m["type"] == "ended")
        await wait_until(lambda: rig.gw.hub.get(ready["session_id"]) is None, 5)
        await wait_until(lambda: rig.speech.recognitions[0].closed, 5)  # the SDK closes its socket a moment later


async def test_barge_in_stops_playback_cancels_and_truncates(tmp_path) -> None:
    chat = [Reply(LONG_REPLY), Reply("はい、お待ちします。")]
    script = [speech_text("ja_greeting_reply"), speech_text("ja_interrupt_wait")]
    # synthesis at twice real time: the reply's 12 sentences (~16 s of audio) take ~8 s, the barge-in comes after ~3
    async with cascade_rig(tmp_path, chat_script=chat, speech_script=script, greeting_mode="none", tts_realtime_factor=2.0) as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello()
            session = rig.session(ready["session_id"])
            talk = asyncio.create_task(page.stream(silence(300) + utterance("ja_greeting_reply") + silence(2500) + utterance("ja_interrupt_wait") + silence(1200)))
            clear = await page.wait_message(lambda m: m["type"] == "clear", 12)
            assert clear == {"type": "clear"}
            cleared_at = page.first_time(lambda r: r.data == wire.CLEAR)
            await talk
            answer = await page.wait_message(lambda m: m["type"] == "transcript" and m["final"] and m["text"] == "はい、お待ちします。", 8)
            assert answer
            first_response = session.engine.timings[0]
            assert first_response.status == "cancelled"
            # nothing of the cancelled reply reached the page after the clear
            later = [r for r in page.received if isinstance(r.data, bytes) and r.at > cleared_at + 0.05]
            second_start = rig.speech.syntheses[-1].started_at
            assert all(r.at >= second_start for r in later)
            # the model is told only what the caller heard: a prefix of the reply, far from all of it
            second_request = rig.chat.completions[1]
            assistant = [m["content"] for m in second_request.messages if m["role"] == "assistant"]
            assert len(assistant) == 1 and LONG_REPLY.startswith(assistant[0]) and 0 < len(assistant[0]) < len(LONG_REPLY) // 2
            assert second_request.last_user_text == speech_text("ja_interrupt_wait")
            assert any(isinstance(e, BargeIn) for e in rig.gw.hub.history(ready["session_id"]))
            # the record keeps what the caller heard: the spoken sentences, cut where playback stopped (amended if
            # the reply's transcript was out before the barge-in, recorded cut if it came after)
            history = rig.gw.hub.history(ready["session_id"])
            cuts = [e.text for e in history if isinstance(e, TranscriptAmended) or (isinstance(e, TranscriptFinal) and e.interrupted)]
            await rig.gw.writer.flush()
            turns = (await rig.gw.store.conversation(ready["session_id"]))["turns"]
            recorded = [t["text"] for t in turns if t["role"] == "assistant"][0]
            assert cuts == [recorded] and recorded.endswith("…")
            assert LONG_REPLY.startswith(recorded[:-1]) and len(recorded) < len(LONG_REPLY) // 2
            # synthesis stopped with the reply: not every sentence of it was spoken to the end
            spoken_to_the_end = [s for s in rig.speech.syntheses[:-1] if s.completed]
            assert len(spoken_to_the_end) < LONG_REPLY.count("。"), [s.text for s in spoken_to_the_end]


async def test_page_reported_barge_in_cancels_at_once(tmp_path) -> None:
    async with cascade_rig(tmp_path, chat_script=[], greeting=LONG_REPLY) as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello()
            session = rig.session(ready["session_id"])
            await wait_until(lambda: len(page.audio()) > 24_000, 5)  # half a second of the greeting is playing
            await page.send_json({"type": "barge_in"})
            await page.wait_message(lambda m: m["type"] == "clear", 3)
            await wait_until(lambda: session.engine.timings[0].status == "cancelled", 3)
            await page.send_json({"type": "played", "ms": 480})
            await wait_until(lambda: session.sink.reported_played_ms == [480], 3)
            entry = session.engine.history.entries[0]
            assert entry.role == "assistant" and LONG_REPLY.startswith(entry.content) and len(entry.content) < len(LONG_REPLY)


async def test_dropped_socket_resumes_the_same_conversation(tmp_path) -> None:
    chat = [Reply("こんにちは。ご用件をどうぞ。"), Reply("コンパクトカーですね。承知しました。")]
    script = [speech_text("ja_greeting_reply"), speech_text("ja_compact")]
    async with cascade_rig(tmp_path, chat_script=chat, speech_script=script, greeting_mode="none", grace_s=5) as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello()
            await page.stream(silence(300) + utterance("ja_greeting_reply") + silence(900))
            await page.wait_message(lambda m: m["type"] == "transcript" and m["role"] == "assistant" and m["final"], 8)
            session_id = ready["session_id"]
            await wait_until(lambda: not rig.session(session_id).conversation.agent_has_the_floor(), 8)  # the reply was heard
            page.ws.transport.abort()  # a network drop, no close handshake
        await wait_until(lambda: rig.session(session_id).link is None, 5)
        assert rig.gw.hub.get(session_id) is not None  # still live, within the grace period

        async with PageClient.open(rig.ws_url) as bad:
            refused = await bad.hello(session_id=session_id, token="forged-token")
            assert refused["code"] == "bad_token"
            await asyncio.wait_for(bad.closed.wait(), 5)
            assert bad.close_code == wire.POLICY

        async with PageClient.open(rig.ws_url) as page:
            again = await page.hello(session_id=session_id, token=ready["token"])
            assert again["type"] == "ready" and again["resumed"] and again["session_id"] == session_id
            await page.stream(silence(300) + utterance("ja_compact") + silence(900))
            await page.wait_message(lambda m: m["type"] == "transcript" and m["final"] and "コンパクトカーですね" in m["text"], 8)
        request = rig.chat.completions[1]
        users = request.texts("user")
        assert users == [speech_text("ja_greeting_reply"), speech_text("ja_compact")]
        assert "こんにちは。ご用件をどうぞ。" in request.texts("assistant")
        assert rig.session(session_id).reconnects == 1
        assert len([s for s in rig.gw.hub.live_sessions() if s.session_id == session_id]) == 1


async def test_grace_period_ends_an_abandoned_conversation(tmp_path) -> None:
    async with cascade_rig(tmp_path, greeting_mode="none", grace_s=0.5) as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello()
            page.ws.transport.abort()
        await wait_until(lambda: rig.gw.hub.get(ready["session_id"]) is None, 5)
        async with PageClient.open(rig.ws_url) as page:
            gone = await page.hello(session_id=ready["session_id"], token=ready["token"])
            assert gone["code"] == "session_gone"


async def test_malformed_messages_are_answered_and_then_closed(tmp_path) -> None:
    async with cascade_rig(tmp_path, greeting_mode="none") as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello()
            for bad in ("not json", json.dumps({"type": "nope"}), json.dumps([1, 2]), json.dumps({"type": "played", "ms": "x"})):
                await page.ws.send(bad)
            await page.ws.send(b"\x01\x02\x03")  # odd length: not PCM16
            await page.send_json({"type": "ping"})
            await page.wait_message(lambda m: m["type"] == "pong", 3)
            errors = page.messages("error")
            assert len(errors) == 5 and {e["code"] for e in errors} == {"bad_message"}
            assert rig.gw.hub.get(ready["session_id"]) is not None  # the conversation goes on
            for _ in range(3):
                await page.ws.send("{")
            await asyncio.wait_for(page.closed.wait(), 5)
            assert page.close_code == wire.POLICY
        async with PageClient.open(rig.ws_url) as page:  # a second page: oversized audio frame
            await page.hello()
            await page.ws.send(b"\0" * (wire.MAX_AUDIO_BYTES + 2))
            await asyncio.wait_for(page.closed.wait(), 5)
            assert page.close_code == wire.TOO_BIG
        async with PageClient.open(rig.ws_url) as page:  # no hello first
            await page.send_json({"type": "ping"})
            await asyncio.wait_for(page.closed.wait(), 5)
            assert page.close_code == wire.POLICY and page.messages("error")[0]["code"] == "no_hello"


async def test_other_sites_and_audio_floods_are_refused(tmp_path) -> None:
    async with cascade_rig(tmp_path, greeting_mode="none") as rig:
        async with PageClient.open(rig.ws_url, origin="https://evil.example") as page:
            refused = await page.wait_message(lambda m: m["type"] == "error", 5)  # before any hello
            assert refused["code"] == "forbidden"
            await asyncio.wait_for(page.closed.wait(), 5)
            assert page.close_code == wire.POLICY and rig.gw.hub.live_sessions() == []
        async with PageClient.open(rig.ws_url, origin=rig.url) as page:  # the gateway's own page
            ready = await page.hello()
            assert ready["type"] == "ready"
            await page.stream(silence(10_000), speed=50)  # ten seconds of audio in a fifth of a second
            await asyncio.wait_for(page.closed.wait(), 5)
            assert page.close_code == wire.POLICY and page.messages("error")[-1]["code"] == "flood"


async def test_refused_when_not_configured_or_speech_unreachable(tmp_path) -> None:
    async with cascade_rig(tmp_path / "a", configured=False) as rig:
        async with PageClient.open(rig.ws_url) as page:
            refused = await page.hello()
            assert refused["type"] == "error" and refused["code"] == "not_configured"
            assert "AZURE_SPEECH_KEY" in refused["message"]
            await asyncio.wait_for(page.closed.wait(), 5)
            assert page.close_code == wire.SERVER_ERROR
    async with cascade_rig(tmp_path / "b", speech_key="wrong-key") as rig:
        async with PageClient.open(rig.ws_url) as page:
            refused = await page.hello()
            assert refused["code"] == "engine_unavailable" and "wrong-key" not in json.dumps(refused)
            await asyncio.wait_for(page.closed.wait(), 5)
        assert rig.gw.hub.live_sessions() == [] and rig.speech.rejected


async def test_past_its_capacity_a_new_conversation_is_told_to_try_later(tmp_path) -> None:
    async with cascade_rig(tmp_path, greeting=None, max_media_sessions=1) as rig:
        async with PageClient.open(rig.ws_url) as first:
            assert (await first.hello())["type"] == "ready"
            async with PageClient.open(rig.ws_url) as second:
                refused = await second.hello()
                assert refused["type"] == "error" and refused["code"] == "busy"
                await asyncio.wait_for(second.closed.wait(), 5)
                assert second.close_code == wire.TRY_LATER
            assert len(rig.gw.hub.live_sessions()) == 1, "the conversation already up goes on"
            await first.send_json({"type": "stop"})
            await wait_until(lambda: not rig.gw.hub.live_sessions(), 5)
        async with PageClient.open(rig.ws_url) as third:
            assert (await third.hello())["type"] == "ready"  # room again


async def test_no_secret_reaches_the_page(tmp_path) -> None:
    chat = [Reply("承知しました。")]
    async with cascade_rig(tmp_path, chat_script=chat, speech_script=[speech_text("ja_greeting_reply")], greeting=GREETING) as rig:
        async with PageClient.open(rig.ws_url) as page:
            ready = await page.hello()
            await wait_until(lambda: rig.speech.syntheses and not rig.session(ready["session_id"]).conversation.agent_audible(), 5)
            await page.stream(silence(200) + utterance("ja_greeting_reply") + silence(900))
            await page.wait_message(lambda m: m["type"] == "transcript" and m["role"] == "assistant" and m["final"] and m["text"] == "承知しました。", 8)
            text = "".join(r.data for r in page.received if isinstance(r.data, str))  # type: ignore[misc]
        client = rig.app.test_client()
        pages = [await (await client.get(path)).get_data(as_text=True) for path in ("/", "/api/status", "/static/websocket.js")]
        for secret in (SPEECH_KEY, CHAT_KEY):
            assert secret not in text and all(secret not in body for body in pages)


# --- pure helpers ---------------------------------------------------------------------------------------------------
def test_sentences_are_released_as_soon_as_they_are_certain() -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    text = "はい、承知しました。ご予約は「R-0001」です。The price is 3.5 dollars. Really?! 残り"
    for pos in range(0, len(text), 3):
        out += splitter.push(text[pos : pos + 3])
    assert out == ["はい、承知しました。", "ご予約は「R-0001」です。", "The price is 3.5 dollars.", "Really?!"]
    assert splitter.flush() == "残り"
    assert split_all("あ" * 70 + "、いいえ。")[1] == "いいえ。"  # a run-on clause is cut at a comma


def test_history_answers_every_tool_call_and_keeps_what_was_heard() -> None:
    history = ChatHistory([("assistant", "はい。")])
    entry = history.assistant("i1")
    entry.content = "確認します。"
    from gateway.engines.chat_history import ToolCallRecord

    entry.tool_calls = [ToolCallRecord("c1", "get_current_time", "{}")]
    history.add("user", "もしもし")  # recognized while the tool was running
    messages = history.request("SYS")
    assert [m["role"] for m in messages] == ["system", "assistant", "assistant", "tool", "user"]
    assert json.loads(messages[3]["content"])["error"]["code"] == "interrupted"
    spoken = history.assistant("i2")
    spoken.content = "一つ目です。二つ目です。"
    history.spoken("i2", "一つ目です。", 1000, new_segment=True)
    history.spoken("i2", "二つ目です。", 500, new_segment=True)
    history.spoken("i2", "二つ目です。", 500, new_segment=False)
    assert history.truncate("i2", 1500) == "一つ目です。二つ目"
    assert history.truncate("i2", 0) == "" and spoken not in history.entries


@pytest.mark.parametrize(
    "message",
    [
        '{"type":"hello","lang":"en-US; drop"}',
        '{"type":"hello","agent":"../x"}',
        '{"type":"played","ms":Infinity}',
        '{"type":"played","ms":NaN}',
        "[" * 5000 + "]" * 5000,  # deeper than the JSON parser recurses
        None,  # an empty binary message, as the server library hands it over
        b"",
    ],
)
def test_malformed_messages_are_wire_errors(message: str | bytes | None) -> None:
    with pytest.raises(wire.WireError):
        wire.parse_client(message)
