"""The Twilio emulator's calls and media streams against a fake gateway (``twilio_peer``) that checks every
signature with the official SDK's validator and speaks the Media Streams protocol by hand."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from gateway.audio import read_wav, resample
from gateway.emulators.g711 import mulaw_encode
from gateway.emulators.twilio import ErrorCode, TwilioCall, compute_signature
from tests.emulators.twilio_peer import CALLER_WAV, CLOSE, stream_twiml, tone_mulaw, twilio_world


@pytest.fixture
async def world() -> AsyncIterator[Callable[..., Any]]:
    async with twilio_world() as make:
        yield make


async def test_signature_equals_the_sdk_validator() -> None:
    token = "0123456789abcdef0123456789abcdef"
    validator = RequestValidator(token)
    url = "https://gw.example.com/twilio/voice?call=abc"
    params = {"CallSid": "CA1", "From": "+819012345678", "To": "+815012345678", "Body": "こんにちは & more"}
    assert compute_signature(token, url, params) == validator.compute_signature(url, params)
    pairs = [("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered"), ("A", "1")]
    multi = MultiDict(pairs)  # repeated keys, as Quart's request.form holds them
    assert compute_signature(token, url, pairs) == validator.compute_signature(url, multi)
    assert compute_signature(token, "wss://gw.example.com/twilio/media/k", {}) == validator.compute_signature(
        "wss://gw.example.com/twilio/media/k", {}
    )
    assert compute_signature("another-token", url, params) != validator.compute_signature(url, params)


async def test_say_then_stream_then_hangup(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml(before="<Say>Connecting you now.</Say>"))
    call = await emu.incoming_call(f"{gw.base}/voice", status_callback=f"{gw.base}/status", script=[CALLER_WAV])
    session = await gw.session()
    assert session.signature_ok and all(ok for _, _, ok in gw.webhooks)
    voice = gw.webhooks[0][1]
    assert voice["CallSid"] == call.sid and voice["CallStatus"] == "ringing" and voice["Direction"] == "inbound"
    assert call.sid.startswith("CA") and len(call.sid) == 34 and voice["AccountSid"] == emu.config.account_sid
    connected, start = session.messages[0][1], session.events("start")[0]
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start["sequenceNumber"] == "1" and start["streamSid"].startswith("MZ") and len(start["streamSid"]) == 34
    body = start["start"]
    assert body["callSid"] == call.sid and body["tracks"] == ["inbound"]
    assert body["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    assert body["customParameters"] == {"token": "tok-123"}
    say = call.twiml_log[0]
    assert say.verb == "Say" and say.text == "Connecting you now." and say.ended_at is not None
    assert say.ended_at <= call.streams[0].connected_at

    await gw.wait(lambda: len(session.events("media")) >= 60, what="60 media frames")
    media = session.events("media")
    assert [int(m["media"]["chunk"]) for m in media[:60]] == list(range(1, 61))
    seqs = [int(m["sequenceNumber"]) for _, m in session.messages[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
    assert all(m["media"]["track"] == "inbound" and isinstance(m["media"]["timestamp"], str) for m in media)
    # the caller's WAV, resampled to 8 kHz and μ-law encoded, is what the frames carry; then 0xFF silence
    spoken = resample(read_wav(CALLER_WAV).pcm, 16000, 8000)
    inbound = b"".join(base64.b64decode(m["media"]["payload"]) for m in media[:60])
    expected = mulaw_encode(spoken) + b"\xff" * (len(inbound) - len(spoken) // 2)
    assert inbound == expected

    session.send(CLOSE)  # the gateway ends the stream: <Hangup/> runs, the call completes
    assert await call.ended(5.0) == "completed"
    assert [e.verb for e in call.twiml_log] == ["Say", "Connect", "Hangup"]
    assert call.ended_by == "twiml" and call.streams[0].closed_by == "gateway" and not call.errors
    await gw.wait(lambda: any(p.get("CallStatus") == "completed" for _, p, _ in gw.webhooks), what="completed")
    status = next(p for path, p, _ in gw.webhooks if path == "/status")
    assert status["SequenceNumber"] == "0" and "CallDuration" in status


async def test_media_is_paced_in_real_time(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    call = await emu.incoming_call(f"{gw.base}/voice")
    session = await gw.session()
    stream = call.streams[0]
    await gw.wait(lambda: len(stream.sent_times) >= 76, what="1.5 s of frames")
    times = np.array(stream.sent_times[:76])
    stamps = np.array(stream.sent_timestamps[:76])
    start = times[0] - stamps[0] / 1000  # the stream's own clock origin
    schedule = np.arange(76) * 0.020
    # never ahead of real time (no burst), and lateness does not pile up (a busy machine may delay single frames)
    assert (schedule - (times - start)).max() <= 0.002
    assert (times - start - schedule)[-10:].min() < 0.1
    # media.timestamp is the stream clock: it rises with the frames and matches when each was sent
    assert np.all(np.diff(stamps) >= 0) and np.all(np.abs(stamps - (times - start) * 1000) <= 1.5)
    assert len(session.events("media")) >= 70
    await call.hang_up()
    assert session.events("stop")[0]["stop"] == {"accountSid": emu.config.account_sid, "callSid": call.sid}


async def test_marks_echo_after_playout_and_the_tone_is_heard(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    call = await emu.incoming_call(f"{gw.base}/voice")
    session = await gw.session()
    session.send_mark("idle")  # nothing buffered: echoed at once
    mulaw, tone = tone_mulaw(0.6)
    for i in range(0, len(mulaw), 1000):  # odd sizes: any payload size is allowed
        session.send_media(mulaw[i : i + 1000])
    session.send_mark("tone-end")
    await gw.wait(lambda: session.mark_echo_time("tone-end"), timeout_s=3.0, what="tone-end echo")
    idle_delay = session.mark_echo_time("idle") - session.sent_at["idle"]
    tone_delay = session.mark_echo_time("tone-end") - session.sent_at["tone-end"]
    assert idle_delay < 0.1, idle_delay
    assert 0.55 <= tone_delay <= 0.9, tone_delay
    assert [(m.name, m.reason) for m in call.marks] == [("idle", "playback"), ("tone-end", "playback")]
    heard = np.frombuffer(call.heard_pcm(), dtype="<i2").astype(np.float64)
    assert len(heard) == len(tone) and call.received_mulaw() == mulaw
    corr = float(np.dot(heard, tone) / (np.linalg.norm(heard) * np.linalg.norm(tone)))
    assert corr > 0.99, corr
    await call.hang_up()


async def test_clear_drops_audio_and_echoes_pending_marks(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    call = await emu.incoming_call(f"{gw.base}/voice")
    session = await gw.session()
    mulaw, _ = tone_mulaw(2.0)
    session.send_media(mulaw)
    session.send_mark("long")
    await gw.wait(lambda: call.stream and len(call.stream.playout.played) >= 10, what="200 ms played")
    session.send({"event": "clear", "streamSid": session.stream_sid})
    await gw.wait(lambda: session.mark_echo_time("long"), timeout_s=1.0, what="echo after clear")
    assert call.marks[0].reason == "clear" and len(call.clears) == 1
    assert call.clears[0].marks_echoed == ("long",) and call.clears[0].dropped_ms > 1000
    heard_s = len(call.heard_pcm()) / 2 / 8000
    assert 0.15 <= heard_s <= 0.6, heard_s
    assert len(call.received_mulaw()) == len(mulaw)
    await call.hang_up()


async def test_dtmf_and_protocol_errors(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    call = await emu.incoming_call(f"{gw.base}/voice")
    session = await gw.session()
    call.press("1#")
    await gw.wait(lambda: len(session.events("dtmf")) == 2, what="two dtmf messages")
    assert [m["dtmf"] for m in session.events("dtmf")] == [
        {"track": "inbound_track", "digit": "1"},
        {"track": "inbound_track", "digit": "#"},
    ]
    session.send({"event": "media", "streamSid": "MZ" + "0" * 32, "media": {"payload": "AAAA"}})
    session.send({"event": "media", "media": {"payload": "AAAA"}})
    session.send({"event": "transcript", "streamSid": session.stream_sid})
    session.send({"event": "mark", "streamSid": session.stream_sid, "name": "flat"})
    session.send(b"\xff" * 160)
    await gw.wait(lambda: len(call.errors) == 5, what="five protocol errors")
    codes = [e.code for e in call.errors]
    assert codes == [ErrorCode.STREAM_PROTOCOL_INVALID_MESSAGE] * 4 + [ErrorCode.STREAM_MALFORMED_MESSAGE]
    assert call.received_mulaw() == b"" and call.marks == []
    await call.hang_up()


async def test_stream_url_with_query_is_rejected_and_the_next_verb_runs(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml(after="<Say>Bye</Say>", stream_url="{ws}/media/k1?token=abc"))
    call = await emu.incoming_call(f"{gw.base}/voice")
    assert await call.ended(5.0) == "completed"
    assert [e.code for e in call.errors] == [ErrorCode.STREAM_HANDSHAKE_ERROR]
    assert [e.verb for e in call.twiml_log] == ["Connect", "Say"] and gw.sessions == []


async def test_wrong_token_is_refused_by_the_gateway(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    gw.validator = RequestValidator("not-the-account-token")
    call = await emu.incoming_call(f"{gw.base}/voice")
    assert await call.ended(5.0) == "completed"
    assert [e.code for e in call.errors] == [ErrorCode.HTTP_RETRIEVAL_FAILURE]
    assert [e.text for e in call.twiml_log] == ["We are sorry, an application error has occurred. Goodbye."]
    assert gw.webhooks[0][2] is False


async def test_play_fetches_the_gateway_audio_and_unknown_verbs_are_errors(world: Callable[..., Any]) -> None:
    def twiml(base: str) -> str:
        return f"<Response><Play>{base}/audio.wav</Play><Gather/><Play>{base}/missing.wav</Play></Response>"

    emu, gw = await world(twiml)
    call: TwilioCall = await emu.incoming_call(f"{gw.base}/voice")
    assert await call.ended(5.0) == "completed"
    play = call.twiml_log[0]
    assert play.http_status == 200 and abs(len(play.pcm) / 2 / 8000 - 0.5) < 0.01
    assert play.duration_s is not None and play.duration_s >= 0.45
    assert [e.code for e in call.errors] == [ErrorCode.DOCUMENT_PARSE_FAILURE, ErrorCode.HTTP_RETRIEVAL_FAILURE]


async def test_media_socket_with_a_bad_signature_is_refused(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml(after="<Say>Sorry</Say>"))
    gw.ws_validator = RequestValidator("not-the-account-token")
    call = await emu.incoming_call(f"{gw.base}/voice")
    assert await call.ended(5.0) == "completed"
    assert [e.code for e in call.errors] == [ErrorCode.STREAM_HANDSHAKE_ERROR] and "403" in call.errors[0].message
    assert [e.verb for e in call.twiml_log] == ["Connect", "Say"] and not call.stream_connected.is_set()


async def test_connect_action_and_redirect_lead_to_new_documents(world: Callable[..., Any]) -> None:
    def voice(base: str) -> str:
        ws = base.replace("http://", "ws://")
        stream = f'<Stream url="{ws}/media/k2" name="bot" statusCallback="{base}/stream-status"/>'
        return f'<Response><Connect action="/after">{stream}</Connect><Say>never</Say></Response>'

    emu, gw = await world(voice)
    gw.documents["after"] = lambda base: "<Response><Redirect>/final</Redirect></Response>"
    gw.documents["final"] = lambda base: "<Response><Say>Goodbye</Say><Hangup/></Response>"
    call = await emu.incoming_call(f"{gw.base}/voice")
    session = await gw.session()
    assert session.events("start")[0]["start"]["customParameters"] == {}
    session.send(CLOSE)
    assert await call.ended(5.0) == "completed"
    assert [(e.verb, e.text) for e in call.twiml_log] == [
        ("Connect", None),
        ("Redirect", None),
        ("Say", "Goodbye"),
        ("Hangup", None),
    ]
    await gw.wait(lambda: len([p for p, _, _ in gw.webhooks if p == "/stream-status"]) == 2, what="stream events")
    events = [(p["StreamEvent"], p["StreamName"], ok) for path, p, ok in gw.webhooks if path == "/stream-status"]
    assert events == [("stream-started", "bot", True), ("stream-stopped", "bot", True)]
    assert [path for path, _, ok in gw.webhooks if ok and path != "/stream-status"] == ["/voice", "/after", "/final"]


async def test_probes_forge_webhooks_and_media_sockets(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    params = {"CallSid": "CA" + "1" * 32, "AccountSid": emu.config.account_sid, "CallStatus": "ringing"}
    assert (await emu.send_webhook(f"{gw.base}/voice", params)).status == 200
    assert (await emu.send_webhook(f"{gw.base}/voice", params, token="f" * 32)).status == 403
    assert (await emu.send_webhook(f"{gw.base}/voice", params, signed=False)).status == 403
    assert [ok for _, _, ok in gw.webhooks] == [True, False, False]
    url = f"{gw.ws_base}/media/probe"
    assert (await emu.probe_stream(url, token="f" * 32)).status == 403
    assert (await emu.probe_stream(url, signed=False)).status == 403
    accepted = await emu.probe_stream(url)
    assert accepted.accepted and accepted.status == 101
