"""The Twilio Media Streams serializer against the documented message shapes, and the gateway's μ-law codec."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.twilio import wire
from gateway.audio import mulaw_decode, mulaw_encode

STREAM = "MZ" + "a" * 32
CALL = "CA" + "b" * 32


def test_start_gives_the_stream_call_and_custom_parameters() -> None:
    message = json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "start": {
                "accountSid": "AC" + "c" * 32,
                "streamSid": STREAM,
                "callSid": CALL,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"token": "abc"},
            },
            "streamSid": STREAM,
        }
    )
    start = wire.parse(message)
    assert isinstance(start, wire.Start)
    assert (start.stream_sid, start.call_sid, start.custom_parameters) == (STREAM, CALL, {"token": "abc"})
    assert start.sample_rate == 8000


def test_media_dtmf_mark_stop_and_connected() -> None:
    media = (
        '{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"/34="},'
        f'"streamSid":"{STREAM}"}}'
    )
    assert wire.parse(media) == wire.Media("/34=")
    spaced = json.dumps({"event": "media", "media": {"payload": "AAA="}, "streamSid": STREAM}, indent=1)
    assert wire.parse(spaced) == wire.Media("AAA=")  # the slow path reads the same
    assert wire.parse(json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "7"}})) == wire.Dtmf("7")
    assert wire.parse(json.dumps({"event": "mark", "mark": {"name": "m3"}})) == wire.Mark("m3")
    assert wire.parse(json.dumps({"event": "stop", "stop": {"callSid": CALL}})) == wire.Stop(CALL)
    assert wire.parse(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})) == wire.Connected("Call")
    assert wire.parse(json.dumps({"event": "something-new"})) is None


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[]",
        b'{"event":"media"}',
        '{"event":"media","media":{}}',
        '{"event":"mark","mark":"m1"}',
        '{"event":"dtmf","dtmf":{"digit":"12"}}',
        '{"event":"start","start":{"streamSid":"MZ\\"x","callSid":"CA1"}}',
        '{"no":"event"}',
    ],
)
def test_malformed_messages_are_wire_errors(message) -> None:
    with pytest.raises(wire.WireError):
        wire.parse(message)


def test_outgoing_messages_carry_the_stream_sid_in_the_documented_shape() -> None:
    assert json.loads(wire.media(STREAM, "/w==")) == {"event": "media", "streamSid": STREAM, "media": {"payload": "/w=="}}
    assert json.loads(wire.mark(STREAM, "m1")) == {"event": "mark", "streamSid": STREAM, "mark": {"name": "m1"}}
    assert json.loads(wire.clear(STREAM)) == {"event": "clear", "streamSid": STREAM}


def test_mulaw_reference_codes() -> None:
    """G.711 μ-law codes for known linear values (ITU-T G.711 table: 0 ↔ 0xFF, full scale ↔ 0x80 / 0x00)."""
    pcm = np.array([0, -1, 32767, -32768, 1000, -1000], dtype="<i2").tobytes()
    assert list(mulaw_encode(pcm)) == [0xFF, 0x7E, 0x80, 0x00, 0xCE, 0x4E]  # -1 is -1 in 14 bits: code 0x7E
    decoded = np.frombuffer(mulaw_decode(bytes([0xFF, 0x7F, 0x7E, 0x80, 0x00, 0xCE, 0x4E])), dtype="<i2")
    assert list(decoded) == [0, 0, -8, 32124, -32124, 988, -988]


def test_mulaw_round_trip_error_stays_within_one_quantisation_step() -> None:
    """μ-law keeps 4 mantissa bits per segment: the error is at most about 1/16 of the (biased) magnitude."""
    x = np.arange(-32768, 32768, 7, dtype=np.int32)
    back = np.frombuffer(mulaw_decode(mulaw_encode(x.astype("<i2").tobytes())), dtype="<i2").astype(np.int32)
    clipped = np.clip(x, -32124, 32124)
    assert np.all(np.abs(back - clipped) <= (np.abs(clipped) + 132) / 16)
    assert np.sign(back[np.abs(x) > 64]).tolist() == np.sign(x[np.abs(x) > 64]).tolist()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=50),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["event", "media", "mark", "dtmf", "start", "stop", "payload", "name", "digit", "streamSid", "callSid", "customParameters", "mediaFormat", "sampleRate"]), inner, max_size=5),
            max_leaves=12,
        ).map(json.dumps),
    )
)
def test_whatever_arrives_the_parser_answers_an_event_none_or_a_wire_error(message) -> None:
    try:
        wire.parse(message)
    except wire.WireError:
        pass
