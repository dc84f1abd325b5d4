"""The Azure Speech emulator driven by the real Speech SDK (``azure-cognitiveservices-speech``) over loopback.

SDK calls block, so they run in threads while the emulator serves from the test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest

from gateway.audio import read_wav, rms
from gateway.emulators.serving import serve_app
from gateway.emulators.speech import (
    DEFAULT_KEY,
    SpeechEmulator,
    parse_output_format,
    speech_duration_ms,
    synthesize,
)
from gateway.emulators.speech.usp import binary_frame, parse_frame, parse_wav_header, text_frame
from gateway.emulators.speech.vad import EnergyVad

pytestmark = pytest.mark.asyncio

DATA = Path(__file__).resolve().parent.parent / "data"
RESERVE = "来週の土曜日に東京でレンタカーを借りたいです。"
COMPACT = "コンパクトカーでお願いします。"
RATE = 16_000
SECOND = b"\0" * (RATE * 2)


def _two_utterances() -> tuple[bytes, float]:
    """reserve_car, 1 s silence, compact, 1 s silence; returns the PCM and where compact starts (ms)."""
    first = read_wav(DATA / "ja_reserve_car_16k.wav")
    second = read_wav(DATA / "ja_compact_16k.wav")
    assert first.rate == second.rate == RATE
    pcm = first.pcm + SECOND + second.pcm + SECOND
    return pcm, (len(first.pcm) + len(SECOND)) / 2 / RATE * 1000


def _config(url: str, key: str = DEFAULT_KEY) -> speechsdk.SpeechConfig:
    config = speechsdk.SpeechConfig(host=url.replace("http://", "ws://"), subscription=key)
    config.speech_recognition_language = "ja-JP"
    return config


@dataclass
class RecognitionRun:
    events: list[tuple[float, str, Any]] = field(default_factory=list)
    stop_seconds: float = 0.0

    def named(self, name: str) -> list[Any]:
        return [e[2] for e in self.events if e[1] == name]

    @property
    def recognized(self) -> list[speechsdk.SpeechRecognitionResult]:
        return self.named("recognized")


def recognize(
    url: str, pcm: bytes, *, expect: int, key: str = DEFAULT_KEY, speed: float = 4.0, limit: float = 15.0
) -> RecognitionRun:
    """Continuous recognition from a push stream fed ``speed`` times faster than real time, until ``expect``
    final results (or ``limit`` seconds) have come; then stop. Blocking: run it in a thread."""
    run = RecognitionRun()
    done = threading.Event()
    t0 = time.monotonic()
    stream = speechsdk.audio.PushAudioInputStream(
        stream_format=speechsdk.audio.AudioStreamFormat(samples_per_second=RATE, bits_per_sample=16, channels=1)
    )
    recognizer = speechsdk.SpeechRecognizer(
        speech_config=_config(url, key), audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )

    def on(name: str) -> Any:
        def handler(evt: Any) -> None:
            payload = getattr(evt, "result", None) if name in ("recognizing", "recognized") else evt
            run.events.append((time.monotonic() - t0, name, payload))
            if name == "canceled" or (name == "recognized" and len(run.recognized) >= expect):
                done.set()

        return handler

    for name in (
        "recognizing",
        "recognized",
        "canceled",
        "session_started",
        "session_stopped",
        "speech_start_detected",
        "speech_end_detected",
    ):
        getattr(recognizer, name).connect(on(name))
    recognizer.start_continuous_recognition_async().get()
    chunk = RATE // 10 * 2  # 100 ms
    for pos in range(0, len(pcm), chunk):
        if done.is_set():
            break
        stream.write(pcm[pos : pos + chunk])
        time.sleep(0.1 / speed)
    done.wait(limit)
    started = time.monotonic()
    recognizer.stop_continuous_recognition_async().get()
    run.stop_seconds = time.monotonic() - started
    stream.close()
    return run


# ----------------------------------------------------------------------------------------------- recognition
async def test_continuous_recognition_gives_scripted_text_per_utterance() -> None:
    pcm, second_at = _two_utterances()
    emu = SpeechEmulator(script=[RESERVE, COMPACT])
    async with serve_app(emu.app) as url:
        run = await asyncio.to_thread(recognize, url, pcm, expect=2)
        await emu.wait_for(lambda: emu.recognitions and emu.recognitions[0].closed, 5)

    results = run.recognized
    assert [r.reason for r in results] == [speechsdk.ResultReason.RecognizedSpeech] * 2
    assert [r.text for r in results] == [RESERVE, COMPACT]
    # Offsets and durations come back in 100-ns ticks, on the stream's clock.
    assert results[0].offset < 300 * 10_000
    assert abs(results[1].offset / 10_000 - second_at) < 200
    assert 3_000 < results[0].duration / 10_000 < 4_000
    partials = [r.text for r in run.named("recognizing")]
    assert partials and all(RESERVE.startswith(p) or COMPACT.startswith(p) for p in partials)
    assert any(len(p) < len(RESERVE) for p in partials)
    # recognizing comes before its recognized: the caller's words show up while they still speak.
    names = [e[1] for e in run.events]
    assert names.index("recognizing") < names.index("recognized")
    assert names[0] == "session_started" and "speech_start_detected" in names
    assert names[-1] == "session_stopped" and not run.named("canceled")
    assert run.stop_seconds < 1.5

    session = emu.recognitions[0]
    assert session.language == "ja-JP" and session.path.endswith("/conversation/cognitiveservices/v1")
    assert session.headers.get("Ocp-Apim-Subscription-Key") == DEFAULT_KEY
    assert session.sample_rate == RATE and session.end_of_audio == 1
    assert session.texts == [RESERVE, COMPACT] == emu.texts_recognized
    # One turn holds both phrases (the real service's behaviour); the audio is what the SDK streamed.
    assert len(session.turns) == 1
    assert session.sent[:2] == ["turn.start", "speech.startDetected"]
    assert session.sent.count("speech.phrase") == 2 and session.sent[-1] == "turn.end"
    assert bytes(session.audio) == pcm[: len(session.audio)] and session.audio_ms > second_at + 1_500


@pytest.mark.parametrize("options", [{"end_silence_timeout_ms": 500}, {"turn_per_utterance": True}])
async def test_turn_changes_keep_offsets_and_audio_continuous(options: dict[str, Any]) -> None:
    """speech.endDetected makes the SDK end the turn and open a new one that replays audio after the last phrase:
    results stay per utterance, offsets stay on one clock, and the emulator's audio record has no duplicates."""
    pcm, second_at = _two_utterances()
    emu = SpeechEmulator(script=[RESERVE, COMPACT], **options)
    async with serve_app(emu.app) as url:
        run = await asyncio.to_thread(recognize, url, pcm, expect=2)
        await emu.wait_for(lambda: emu.recognitions and emu.recognitions[0].closed, 5)

    assert [r.text for r in run.recognized] == [RESERVE, COMPACT]
    assert abs(run.recognized[1].offset / 10_000 - second_at) < 200
    assert len(run.named("speech_end_detected")) >= 1
    assert run.stop_seconds < 1.5
    session = emu.recognitions[0]
    assert len(session.turns) >= 2
    assert "continuation" in session.contexts[1]
    second = session.utterances[1]
    assert second.request_id == session.turns[1] and abs(second.stream_start_ms - second_at) < 200
    assert bytes(session.audio) == pcm[: len(session.audio)]


async def test_no_match_and_placeholder_texts() -> None:
    compact = read_wav(DATA / "ja_compact_16k.wav").pcm
    emu = SpeechEmulator(script=[""])
    async with serve_app(emu.app) as url:
        run = await asyncio.to_thread(recognize, url, (compact + SECOND) * 2, expect=2)
    assert [r.reason for r in run.recognized] == [
        speechsdk.ResultReason.NoMatch,
        speechsdk.ResultReason.RecognizedSpeech,
    ]
    assert run.recognized[1].text == "コンパクトカーでお願いします。"  # unscripted: the known recording's words


async def test_recognition_rejects_wrong_key() -> None:
    emu = SpeechEmulator(keys=["right-key"])
    async with serve_app(emu.app) as url:
        run = await asyncio.to_thread(recognize, url, SECOND, expect=1, key="wrong-key", limit=5)
    canceled = run.named("canceled")
    assert canceled and canceled[0].cancellation_details.reason == speechsdk.CancellationReason.Error
    assert "401" in canceled[0].cancellation_details.error_details
    assert not emu.recognitions and emu.rejected[0]["Ocp-Apim-Subscription-Key"] == "wrong-key"


# ------------------------------------------------------------------------------------------------- synthesis
def speak(
    url: str,
    texts: list[str],
    fmt: speechsdk.SpeechSynthesisOutputFormat,
    key: str = DEFAULT_KEY,
    token: str | None = None,
) -> tuple[list[speechsdk.SpeechSynthesisResult], list[list[bytes]]]:
    """Synthesize each text with ``audio_config=None``; returns the results and the ``synthesizing`` chunks."""
    if token:
        config = speechsdk.SpeechConfig(host=url.replace("http://", "ws://"))
        config.authorization_token = token
    else:
        config = speechsdk.SpeechConfig(host=url.replace("http://", "ws://"), subscription=key)
    config.set_speech_synthesis_output_format(fmt)
    config.speech_synthesis_voice_name = "ja-JP-NanamiNeural"
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    chunks: list[list[bytes]] = []
    synthesizer.synthesis_started.connect(lambda _evt: chunks.append([]))
    synthesizer.synthesizing.connect(lambda evt: chunks[-1].append(evt.result.audio_data))
    results = [synthesizer.speak_text_async(text).get() for text in texts]
    return results, chunks


@pytest.mark.parametrize(
    ("fmt", "wire", "rate"),
    [
        (speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm, "raw-16khz-16bit-mono-pcm", 16_000),
        (speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm, "raw-24khz-16bit-mono-pcm", 24_000),
        (speechsdk.SpeechSynthesisOutputFormat.Raw48Khz16BitMonoPcm, "raw-48khz-16bit-mono-pcm", 48_000),
    ],
)
async def test_synthesis_streams_real_audio_in_requested_format(fmt: Any, wire: str, rate: int) -> None:
    texts = ["はい。", "ご予約ありがとうございます。来週の土曜日、東京店でコンパクトカーをご用意します。"]
    emu = SpeechEmulator()
    async with serve_app(emu.app) as url:
        results, chunks = await asyncio.to_thread(speak, url, texts, fmt)

    assert [r.reason for r in results] == [speechsdk.ResultReason.SynthesizingAudioCompleted] * 2
    assert emu.texts_synthesized == texts
    durations = []
    for result, record, pieces, text in zip(results, emu.syntheses, chunks, texts, strict=True):
        audio = result.audio_data
        assert record.output_format == wire and record.voice == "ja-JP-NanamiNeural" and record.completed
        assert audio == bytes(record.audio)  # exactly the bytes sent, no header
        assert b"".join(pieces) == audio  # streamed as it arrived, in order
        assert len(audio) % 2 == 0 and rms(audio) > 1_000  # real speech, not silence
        duration = len(audio) / 2 / rate * 1000
        assert abs(duration - speech_duration_ms(text)) < 5
        durations.append(duration)
    assert len(chunks[1]) > 3  # the long sentence arrives in several pieces
    assert durations[1] > 5 * durations[0]  # length scales with the text


async def test_synthesis_rejects_wrong_key_and_accepts_issued_token() -> None:
    emu = SpeechEmulator(keys=["right-key"])
    fmt = speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm
    async with serve_app(emu.app) as url:
        (result,), _ = await asyncio.to_thread(speak, url, ["こんにちは"], fmt, "wrong-key")
        details = result.cancellation_details
        assert result.reason == speechsdk.ResultReason.Canceled
        assert details.error_code == speechsdk.CancellationErrorCode.AuthenticationFailure

        def issue(key: str) -> str:
            req = urllib.request.Request(
                url + "/sts/v1.0/issueToken", data=b"", method="POST", headers={"Ocp-Apim-Subscription-Key": key}
            )
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.read().decode()

        with pytest.raises(urllib.error.HTTPError) as err:
            await asyncio.to_thread(issue, "wrong-key")
        assert err.value.code == 401
        token = await asyncio.to_thread(issue, "right-key")
        (result,), _ = await asyncio.to_thread(speak, url, ["こんにちは"], fmt, token=token)
        assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted
    assert emu.texts_synthesized == ["こんにちは"] and len(emu.rejected) == 1


# ------------------------------------------------------------------------------------------------ unit level
async def test_usp_frames_round_trip() -> None:  # async only for the module's asyncio mark
    text = parse_frame(text_frame("speech.phrase", "abc", {"DisplayText": "はい"}))
    assert text.path == "speech.phrase" and text.request_id == "abc" and text.json() == {"DisplayText": "はい"}
    binary = parse_frame(binary_frame("audio", "abc", b"\1\2\3", extra={"X-StreamId": "1"}))
    assert binary.binary and binary.body == b"\1\2\3" and binary.header("x-streamid") == "1"
    wav = (DATA / "ja_compact_16k.wav").read_bytes()
    fmt, data_at = parse_wav_header(wav[:44])
    assert (fmt.rate, fmt.bits, fmt.channels, data_at) == (16_000, 16, 1, 44)


async def test_vad_finds_each_fixture_utterance() -> None:  # async only for the module's asyncio mark
    pcm, second_at = _two_utterances()
    vad = EnergyVad(RATE)
    events = [e for e in vad.push(pcm) + vad.flush() if e.kind != "speaking"]
    assert [e.kind for e in events] == ["start", "end", "start", "end"]
    assert abs(events[2].start_ms - second_at) < 100


async def test_other_output_formats() -> None:  # async only for the module's asyncio mark
    mulaw = parse_output_format("raw-8khz-8bit-mono-mulaw")
    assert len(synthesize("はい", mulaw)) == speech_duration_ms("はい") * 8
    riff = synthesize("はい", parse_output_format("riff-16khz-16bit-mono-pcm"))
    assert riff[:4] == b"RIFF" and parse_wav_header(riff)[0].rate == 16_000
    with pytest.raises(ValueError):
        parse_output_format("audio-16khz-32kbitrate-mono-mp3")


SSML_HEAD = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='ja-JP'>"


def speak_ssml(url: str, documents: list[str]) -> list[speechsdk.SpeechSynthesisResult]:
    """``speak_ssml_async`` each document in turn on one synthesizer (24 kHz PCM)."""
    config = speechsdk.SpeechConfig(host=url.replace("http://", "ws://"), subscription=DEFAULT_KEY)
    config.set_speech_synthesis_output_format(speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm)
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    return [synthesizer.speak_ssml_async(document).get() for document in documents]


async def test_ssml_readings_are_spoken_and_an_invalid_document_cancels_the_synthesis() -> None:
    good = (
        SSML_HEAD + "<voice name='ja-JP-NanamiNeural'><sub alias='やまだ'>山田</sub>様の"
        "<phoneme alphabet='sapi' ph=\"ヨ'ヤク\">予約</phoneme>です。</voice></speak>"
    )
    bad = SSML_HEAD + "<voice name='ja-JP-NanamiNeural'><phoneme alphabet='sapi' ph='よやく'>予約</phoneme></voice>"
    bad += "</speak>"
    emu = SpeechEmulator()
    async with serve_app(emu.app) as url:
        results = await asyncio.to_thread(speak_ssml, url, [good, bad, good])

    ok, refused, again = results
    assert ok.reason == again.reason == speechsdk.ResultReason.SynthesizingAudioCompleted  # the SDK reconnects
    assert refused.reason == speechsdk.ResultReason.Canceled and not refused.audio_data
    details = refused.cancellation_details
    assert details.reason == speechsdk.CancellationReason.Error
    assert details.error_code == speechsdk.CancellationErrorCode.BadRequest
    assert "Error code: 1007" in details.error_details and "よやく" in details.error_details
    first, failed, _ = emu.syntheses
    assert first.ssml == good and first.text == "山田様の予約です。" and first.completed
    assert emu.texts_spoken[0] == "やまだ様のヨ'ヤクです。"
    assert [r.kind for r in first.readings] == ["sub", "phoneme"]
    assert abs(len(ok.audio_data) / 48 - speech_duration_ms("やまだ様のヨ'ヤクです。")) < 5  # the reading is voiced
    assert failed.error and "sapi phone set of ja-JP" in failed.error and not failed.completed and not failed.audio
