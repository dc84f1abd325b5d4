"""The Twilio emulator's pieces without a network: the 20 ms playout with marks and clear, the TwiML parser,
``<Play>`` audio decoding and the StatusCallbackEvent forms."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gateway.audio import AudioChunk, wav_bytes
from gateway.emulators.g711 import mulaw_decode, mulaw_encode
from gateway.emulators.twilio import StreamPlayout, TwimlError, decode_play_audio, parse_status_events, parse_twiml
from gateway.emulators.twilio.twiml import Connect, Dial, Hangup, Pause, Play, Say, Unsupported


def test_playout_plays_160_bytes_per_tick_and_echoes_marks_after_their_audio() -> None:
    playout = StreamPlayout()
    assert playout.push_mark("idle", 0.0) is not None  # nothing buffered: echoed at once
    playout.push_audio(b"\x01" * 200)
    assert playout.push_mark("a", 0.0) is None
    playout.push_audio(b"\x02" * 200)
    assert playout.push_mark("b", 0.0) is None
    assert playout.tick(0.00) == []  # plays bytes 0-159
    assert [m.name for m in playout.tick(0.02)] == []  # plays the last 40 bytes before "a", then 120 more
    assert [m.name for m in playout.tick(0.04)] == ["a"]  # "a"'s audio has played; the last 80 bytes start
    assert [m.name for m in playout.tick(0.06)] == ["b"]
    assert playout.tick(0.08) == [] and playout.buffered_ms == 0
    assert playout.heard_mulaw() == b"\x01" * 200 + b"\x02" * 200
    assert [(m.name, m.reason, m.echoed_at) for m in playout.marks] == [
        ("idle", "playback", 0.0),
        ("a", "playback", 0.04),
        ("b", "playback", 0.06),
    ]


def test_clear_drops_the_buffer_and_echoes_every_pending_mark() -> None:
    playout = StreamPlayout()
    playout.push_audio(b"\x01" * 1600)  # 200 ms
    playout.push_mark("one", 0.0)
    playout.push_audio(b"\x02" * 800)
    playout.push_mark("two", 0.0)
    playout.tick(0.0)
    cleared = playout.clear(0.01)
    assert [m.name for m in cleared] == ["one", "two"] and all(m.reason == "clear" for m in cleared)
    assert playout.clears[0].dropped_ms == pytest.approx(280.0)
    assert playout.tick(0.02) == [] and playout.heard_mulaw() == b"\x01" * 160
    assert playout.push_mark("after", 0.03) is not None  # buffer empty again: immediate


def test_twiml_parser() -> None:
    verbs = parse_twiml(
        """<?xml version="1.0" encoding="UTF-8"?><Response><Say voice="Polly.Mizuki">こんにちは</Say>
        <Play loop="2">https://gw/a.wav</Play><Pause length="2"/>
        <Connect action="/after"><Stream url="wss://gw/media/k"><Parameter name="token" value="t"/></Stream></Connect>
        <Dial callerId="+815012345678" timeout="20"><Number>+819033334444</Number><Sip>sip:a@b</Sip></Dial>
        <Gather/><Hangup/></Response>"""
    )
    assert verbs[0] == Say("こんにちは", "Polly.Mizuki")
    assert verbs[1] == Play("https://gw/a.wav", loop=2) and verbs[2] == Pause(2.0)
    connect = verbs[3]
    assert isinstance(connect, Connect) and connect.action == "/after" and connect.stream is not None
    assert connect.stream.url == "wss://gw/media/k" and connect.stream.parameters == {"token": "t"}
    dial = verbs[4]
    assert isinstance(dial, Dial) and dial.targets == ("+819033334444", "sip:sip:a@b") and dial.timeout_s == 20
    assert verbs[5] == Unsupported("Gather") and verbs[6] == Hangup()
    for bad in ("not xml", "<Foo/>", "<Response><Stream/></Response>x", "<Response><Play/></Response>"):
        with pytest.raises(TwimlError):
            parse_twiml(bad)


def test_play_audio_decodes_pcm_and_mulaw_wav_to_8k() -> None:
    t = np.arange(16000) / 16000
    pcm16k = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    assert len(decode_play_audio(wav_bytes(AudioChunk(pcm16k, 16000)), "audio/wav")) == 16000  # 1 s at 8 kHz
    mulaw = mulaw_encode(np.zeros(800, dtype="<i2").tobytes())
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(mulaw)) + mulaw
    wav = b"RIFF" + struct.pack("<I", len(riff)) + riff
    assert decode_play_audio(wav, "audio/x-wav") == mulaw_decode(mulaw)
    assert decode_play_audio(mulaw, "audio/basic") == mulaw_decode(mulaw)
    with pytest.raises(ValueError):
        decode_play_audio(b"ID3...", "audio/mpeg")


def test_status_callback_events_accept_repeated_keys_or_one_spaced_value() -> None:
    assert parse_status_events(["initiated", "ringing"]) == {"initiated", "ringing"}
    assert parse_status_events(["initiated ringing answered completed"]) == {
        "initiated",
        "ringing",
        "answered",
        "completed",
    }
    assert parse_status_events([]) == {"completed"}
