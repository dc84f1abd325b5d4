"""The emulators recognise the shipped caller recordings through resampling and noise, and nothing else."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gateway.audio import read_wav, resample
from gateway.emulators.demo_script import UNKNOWN, demo_reply
from gateway.emulators.known_speech import heard, recognize
from gateway.emulators.realtime.script import ReplyContext
from tests.conftest import SPEECH, speech

TEXTS = json.loads((SPEECH / "index.json").read_text(encoding="utf-8"))


def _as_heard(name: str, rate: int) -> bytes:
    """The fixture padded with silence, with a little noise, at another rate (as a codec path delivers it)."""
    clip = read_wav(speech(name, 24))
    pad = b"\0\0" * int(clip.rate * 0.6)
    raw = np.frombuffer(pad + clip.pcm + pad, dtype="<i2").astype(np.int32)
    noisy = np.clip(raw + np.random.default_rng(7).normal(0, 30, len(raw)).astype(np.int32), -32768, 32767)
    return resample(noisy.astype("<i2").tobytes(), clip.rate, rate)


@pytest.mark.parametrize("name", ["ja_reserve_car", "ja_station_time", "ja_compact", "ja_phone_number", "ja_backchannel_naruhodo", "en_what_time"])
@pytest.mark.parametrize("rate", [24000, 48000, 16000])
def test_known_recordings_are_recognised(name: str, rate: int) -> None:
    assert recognize(_as_heard(name, rate), rate) == TEXTS[name]["text"]


def test_other_speech_is_reported_honestly() -> None:
    unknown = _as_heard("ja_customer_lookup", 24000)  # a fixture the emulators do not ship
    assert recognize(unknown, 24000) is None
    assert "聞き取れない" in heard(unknown, 24000) and "caller speech" not in heard(unknown, 24000)


def test_the_demo_agent_answers_what_was_said() -> None:
    reply = demo_reply(ReplyContext(1, user_transcript=TEXTS["ja_reserve_car"]["text"]))
    assert "レンタカーのご予約" in reply
    assert demo_reply(ReplyContext(1, user_transcript="（聞き取れない発話 2.0秒）")) == UNKNOWN
