"""Azure Speech service emulator: speech-to-text and text-to-speech over the USP WebSocket protocol.

The real Speech SDK reaches it with ``SpeechConfig(host="ws://127.0.0.1:PORT", subscription=KEY)``.

Recognition (``/speech/recognition/{conversation,interactive,dictation}/cognitiveservices/v1?language=..``) behaves
like the real service, as verified against the SDK 1.53:

* A turn is one ``X-RequestId``: the SDK opens it with ``speech.context`` and a WAV header, then streams PCM.
  The emulator answers ``turn.start`` at once.
* An energy VAD cuts the stream into utterances (``segmentation_silence_ms`` of silence ends one). Within a turn,
  the first utterance gets ``speech.startDetected``; every utterance gets ``speech.hypothesis`` messages (growing
  prefixes of its scripted text) and then one ``speech.phrase``: many phrases share one turn, and the SDK fires
  ``recognized`` for each.
* After ``end_silence_timeout_ms`` of silence (the SDK's ``SpeechServiceConnection_EndSilenceTimeoutMs`` when
  set) the emulator sends ``speech.endDetected``. The SDK then ends the turn itself (an empty audio message),
  gets ``turn.end`` and opens a new turn whose ``speech.context`` carries ``continuation.audio.streams.1.offset``
  (the end of the last phrase): it replays the audio from there, and adds that offset to the new turn's
  (turn-relative) result offsets.
* An empty audio message (end of stream, or ``stop_continuous_recognition``) closes an open utterance with its
  phrase, then ``speech.endDetected`` (if speech was detected) and ``turn.end``.
* ``turn_per_utterance=True`` sends ``speech.startDetected`` and ``speech.endDetected`` around every utterance
  instead, so every utterance gets its own turn (a harsher test of the turn change).

Synthesis (``/cognitiveservices/websocket/v1``): each ``ssml`` message is answered with ``turn.start``, binary
``Path:audio`` frames (recorded speech looped to a length that scales with the text, in the requested
``outputFormat``, paced at ``tts_realtime_factor`` times real time), then ``turn.end``.

``POST /sts/v1.0/issueToken`` issues short-lived tokens, accepted as ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, Response, request, websocket

from gateway.emulators.speech.tts import parse_output_format, synthesize
from gateway.emulators.speech.usp import UspMessage, binary_frame, new_id, parse_frame, parse_wav_header, text_frame
from gateway.emulators.speech.vad import TICKS_PER_MS, EnergyVad, VadEvent

logger = logging.getLogger(__name__)

RECOGNITION_PATHS = (
    "/speech/recognition/conversation/cognitiveservices/v1",
    "/speech/recognition/interactive/cognitiveservices/v1",
    "/speech/recognition/dictation/cognitiveservices/v1",
    "/stt/speech/recognition/conversation/cognitiveservices/v1",
    "/speech/universal/v2",
    "/stt/speech/universal/v2",
)
SYNTHESIS_PATHS = ("/cognitiveservices/websocket/v1", "/tts/cognitiveservices/websocket/v1")
DEFAULT_KEY = "speech-key"
SERVICE_TAG = "emulator"


def placeholder_text(index: int) -> str:
    """The text recognized for utterance ``index`` (1-based) when the script has none."""
    return f"(発話{index})"


@dataclass(slots=True)
class Utterance:
    """One utterance the VAD found and the emulator recognized. Times are on the clock of its turn (what goes on
    the wire); add ``turn_offset_ms`` for the position in the session's audio (what the SDK reports)."""

    index: int  # 1-based, across the whole emulator (the script position)
    session_index: int  # 1-based, within its recognition session
    request_id: str
    text: str  # "" for NoMatch
    start_ms: float
    turn_offset_ms: float = 0.0
    end_ms: float = 0.0
    hypotheses: list[str] = field(default_factory=list)
    final: bool = False

    @property
    def offset_ticks(self) -> int:
        return round(self.start_ms * TICKS_PER_MS)

    @property
    def duration_ticks(self) -> int:
        return round((self.end_ms - self.start_ms) * TICKS_PER_MS)

    @property
    def stream_start_ms(self) -> float:
        return self.turn_offset_ms + self.start_ms

    @property
    def stream_end_ms(self) -> float:
        return self.turn_offset_ms + self.end_ms


@dataclass(slots=True)
class RecognitionSession:
    """One recognition WebSocket connection (the SDK keeps one per recognizer and runs turns on it)."""

    connection_id: str
    path: str
    language: str
    query: dict[str, str]
    headers: dict[str, str]
    started_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    speech_config: Any = None
    contexts: list[Any] = field(default_factory=list)  # speech.context bodies, one per turn
    turns: list[str] = field(default_factory=list)  # X-RequestIds, in order
    sample_rate: int = 16_000
    audio: bytearray = field(default_factory=bytearray)  # PCM received (WAV headers stripped), all turns
    audio_messages: int = 0
    end_of_audio: int = 0  # how many empty audio messages (end of stream) arrived
    utterances: list[Utterance] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # paths of client messages, in order (audio collapsed)
    sent: list[str] = field(default_factory=list)  # paths of service messages, in order

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def texts(self) -> list[str]:
        return [u.text for u in self.utterances if u.final]

    @property
    def audio_ms(self) -> float:
        return len(self.audio) / 2 / self.sample_rate * 1000


@dataclass(slots=True)
class Synthesis:
    """One synthesis turn (one ``speak_*`` call)."""

    connection_id: str
    request_id: str
    ssml: str
    text: str
    voice: str
    language: str
    output_format: str
    audio: bytearray = field(default_factory=bytearray)  # exactly the audio payload bytes sent
    started_at: float = field(default_factory=time.monotonic)
    first_audio_at: float | None = None
    completed: bool = False  # turn.end sent
    error: str | None = None


ScriptEntry = str | None
Script = Sequence[ScriptEntry] | Callable[[RecognitionSession, int], ScriptEntry]


def ssml_text(ssml: str) -> tuple[str, str, str]:
    """Plain text, voice name and language of an SSML document."""
    voice = lang = ""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError:
        text = html.unescape(re.sub(r"<[^>]+>", "", ssml))
        m = re.search(r"<voice[^>]*\bname=['\"]([^'\"]+)", ssml)
        return " ".join(text.split()), (m.group(1) if m else ""), ""
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "speak":
            lang = lang or el.attrib.get("{http://www.w3.org/XML/1998/namespace}lang", el.attrib.get("lang", ""))
        elif tag == "voice" and not voice:
            voice = el.attrib.get("name", "")
    text = "".join(root.itertext())
    return text.strip(), voice, lang


class SpeechEmulator:
    """Azure Speech service stand-in. Serve ``.app`` (e.g. with ``serving.serve_app``) and point the SDK at it.

    ``script`` gives the recognized texts of utterances 1..N in order, across all sessions (``None`` or ``""``
    yields a ``NoMatch`` result); a callable ``(session, index)`` can decide instead. Utterances beyond the script
    get ``placeholder_text(n)``.

    VAD: a 20 ms frame is speech above ``vad_threshold`` RMS (or 3x the tracked noise floor); ``start_ms`` of
    speech starts an utterance, ``segmentation_silence_ms`` of silence ends it (the SDK's
    ``Speech_SegmentationSilenceTimeoutMs`` wins when set). ``end_silence_timeout_ms`` of silence after the last
    utterance ends the turn with ``speech.endDetected`` (the real service's value is not known; reports suggest
    several seconds; ``None`` = never). Partial texts grow by ``chars_per_second`` of speech, one
    ``speech.hypothesis`` every ``hypothesis_interval_ms``.

    Synthesis sends ``tts_chunk_ms`` audio frames at ``tts_realtime_factor`` x real time (``None`` = no pacing)
    after ``tts_first_chunk_delay`` seconds.
    """

    def __init__(
        self,
        keys: Iterable[str] = (DEFAULT_KEY,),
        script: Script = (),
        *,
        vad_threshold: float = 400.0,
        segmentation_silence_ms: int = 600,
        end_silence_timeout_ms: int | None = 5_000,
        start_ms: int = 100,
        hypothesis_interval_ms: int = 300,
        chars_per_second: float = 8.0,
        tts_chunk_ms: int = 100,
        tts_realtime_factor: float | None = 5.0,
        tts_first_chunk_delay: float = 0.03,
        turn_per_utterance: bool = False,
    ) -> None:
        self.keys = set(keys)
        self.script: Script = script if callable(script) else list(script)
        self.vad_threshold = vad_threshold
        self.segmentation_silence_ms = segmentation_silence_ms
        self.end_silence_timeout_ms = end_silence_timeout_ms
        self.start_ms = start_ms
        self.hypothesis_interval_ms = hypothesis_interval_ms
        self.chars_per_second = chars_per_second
        self.tts_chunk_ms = tts_chunk_ms
        self.tts_realtime_factor = tts_realtime_factor
        self.tts_first_chunk_delay = tts_first_chunk_delay
        self.turn_per_utterance = turn_per_utterance
        self.tokens: set[str] = set()
        self.recognitions: list[RecognitionSession] = []
        self.syntheses: list[Synthesis] = []
        self.rejected: list[dict[str, str]] = []  # handshakes refused for bad credentials
        self.utterance_count = 0
        self.app = self._build_app()

    # ----------------------------------------------------------------------------------------------- records
    @property
    def texts_synthesized(self) -> list[str]:
        return [s.text for s in self.syntheses]

    @property
    def texts_recognized(self) -> list[str]:
        return [t for s in self.recognitions for t in s.texts]

    @property
    def audio_received(self) -> bytes:
        return b"".join(bytes(s.audio) for s in self.recognitions)

    def reset(self, script: Script | None = None) -> None:
        """Forget the records and restart the script (optionally a new one)."""
        if script is not None:
            self.script = script if callable(script) else list(script)
        self.recognitions.clear()
        self.syntheses.clear()
        self.rejected.clear()
        self.utterance_count = 0

    async def wait_for(self, predicate: Callable[[], bool], limit: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (polled every 20 ms); ``TimeoutError`` after ``limit`` seconds."""
        for _ in range(max(1, round(limit / 0.02))):
            if predicate():
                return
            await asyncio.sleep(0.02)
        if not predicate():
            raise TimeoutError(f"speech emulator: condition not met within {limit} s")

    def next_text(self, session: RecognitionSession) -> tuple[int, ScriptEntry]:
        self.utterance_count += 1
        index = self.utterance_count
        if callable(self.script):
            return index, self.script(session, index)
        if index <= len(self.script):
            return index, self.script[index - 1]
        return index, placeholder_text(index)

    # -------------------------------------------------------------------------------------------------- auth
    def _authorized(self, headers: Any, args: Any) -> bool:
        key = headers.get("Ocp-Apim-Subscription-Key") or args.get("Ocp-Apim-Subscription-Key") or ""
        if key:
            return key in self.keys
        auth = headers.get("Authorization") or args.get("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else auth.strip()
        return bool(token) and token in self.tokens

    # --------------------------------------------------------------------------------------------------- app
    def _build_app(self) -> Quart:
        app = Quart("gateway.emulators.speech")

        async def issue_token() -> Response:
            key = request.headers.get("Ocp-Apim-Subscription-Key", "")
            if key not in self.keys:
                return Response(
                    json.dumps({"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}),
                    401,
                    mimetype="application/json",
                )
            token = "emu." + new_id()
            self.tokens.add(token)
            return Response(token, 200, mimetype="text/plain")

        async def recognition() -> Response | None:
            if not self._authorized(websocket.headers, websocket.args):
                self.rejected.append({"path": websocket.path, **dict(websocket.headers)})
                return Response("Unauthorized", 401)
            await websocket.accept(subprotocol="USP" if "USP" in websocket.requested_subprotocols else None)
            await _RecognitionConnection(self).run()
            return None

        async def synthesis() -> Response | None:
            if not self._authorized(websocket.headers, websocket.args):
                self.rejected.append({"path": websocket.path, **dict(websocket.headers)})
                return Response("Unauthorized", 401)
            await websocket.accept(subprotocol="USP" if "USP" in websocket.requested_subprotocols else None)
            await _SynthesisConnection(self).run()
            return None

        app.add_url_rule("/sts/v1.0/issueToken", "issue_token", issue_token, methods=["POST"])
        app.add_url_rule("/sts/v1.0/issuetoken", "issue_token_lc", issue_token, methods=["POST"])
        for i, path in enumerate(RECOGNITION_PATHS):
            app.add_websocket(path, f"recognition{i}", recognition)
        for i, path in enumerate(SYNTHESIS_PATHS):
            app.add_websocket(path, f"synthesis{i}", synthesis)
        return app


class _RecognitionConnection:
    """One recognition socket. Turns follow the real service (see the module docstring of ``speech``)."""

    def __init__(self, emu: SpeechEmulator) -> None:
        self.emu = emu
        self.session = RecognitionSession(
            connection_id=websocket.headers.get("X-ConnectionId", "") or new_id(),
            path=websocket.path,
            language=websocket.args.get("language", ""),
            query=dict(websocket.args),
            headers=dict(websocket.headers),
        )
        self.detailed = websocket.args.get("format", "").lower() == "detailed"
        emu.recognitions.append(self.session)
        self.request_id = ""
        self.turn_started = False
        self.turn_ended = False
        self.speech_started = False  # speech.startDetected sent in this turn
        self.end_detected = False  # speech.endDetected sent in this turn: ignore its audio until end of audio
        self.vad: EnergyVad | None = None
        self.current: Utterance | None = None
        self.last_hyp_ms = 0.0
        self.last_speech_end_ms: float | None = None
        self.first_audio = True
        self.turn_base_bytes = 0  # where this turn's audio starts in session.audio (continuation offset)
        self.segmentation_ms: int | None = None
        self.trailing_ms: int | None = _trailing_silence(None, websocket.args)

    async def run(self) -> None:
        try:
            while True:
                frame = await websocket.receive()
                try:
                    msg = parse_frame(frame)
                except ValueError as exc:
                    logger.warning("speech emulator: bad USP frame: %s", exc)
                    continue
                await self.handle(msg)
        finally:
            self.session.closed_at = time.monotonic()

    async def send(self, path: str, body: Any) -> None:
        self.session.sent.append(path)
        await websocket.send(text_frame(path, self.request_id, body))

    def _record_received(self, msg: UspMessage) -> None:
        path = msg.path
        if path.lower() == "audio" and not msg.body:
            path = "audio(end)"
        received = self.session.received
        if not (path == "audio" and received and received[-1] == "audio"):
            received.append(path)

    async def handle(self, msg: UspMessage) -> None:
        path = msg.path.lower()
        self._record_received(msg)
        if path == "speech.config":
            self.session.speech_config = _json(msg)
        elif path == "speech.context":
            context = _json(msg)
            self.session.contexts.append(context)
            self.segmentation_ms = _segmentation_silence(context)
            self.trailing_ms = _trailing_silence(context, self.session.query)
            await self._ensure_turn(msg.request_id, context)
        elif path == "audio":
            await self._ensure_turn(msg.request_id)
            await self._audio(msg)
        # telemetry and anything else: recorded, not answered

    async def _ensure_turn(self, request_id: str, context: Any = None) -> None:
        if request_id and request_id != self.request_id:
            self.request_id = request_id
            self.session.turns.append(request_id)
            self.turn_started = self.turn_ended = self.speech_started = self.end_detected = False
            self.first_audio = True
            self.vad = None
            self.current = None
            self.last_speech_end_ms = None
            # A continuing turn replays the audio after the last acknowledged phrase; keep session.audio a
            # single timeline by cutting it back to that offset.
            offset = _continuation_offset_ticks(context)
            if offset is not None:
                cut = round(offset / TICKS_PER_MS * self.session.sample_rate / 1000) * 2
                del self.session.audio[cut:]
            self.turn_base_bytes = len(self.session.audio)
        if not self.turn_started and self.request_id:
            self.turn_started = True
            await self.send("turn.start", {"context": {"serviceTag": SERVICE_TAG}})

    async def _audio(self, msg: UspMessage) -> None:
        payload = msg.body if isinstance(msg.body, bytes) else msg.body.encode()
        self.session.audio_messages += 1
        if self.turn_ended:
            return  # stray audio after turn.end belongs to no turn
        if self.first_audio and payload:
            self.first_audio = False
            parsed = parse_wav_header(payload)
            if parsed is not None:
                fmt, data_at = parsed
                self.session.sample_rate = fmt.rate
                payload = payload[data_at:]
        if self.vad is None:
            emu = self.emu
            self.vad = EnergyVad(
                self.session.sample_rate,
                threshold=emu.vad_threshold,
                start_ms=emu.start_ms,
                end_silence_ms=self.segmentation_ms or emu.segmentation_silence_ms,
            )
        if not payload:
            if msg.body:
                return  # just the WAV header
            self.session.end_of_audio += 1
            if not self.end_detected:
                for event in self.vad.flush():
                    await self._vad_event(event)
                if self.speech_started and not self.end_detected:
                    self.end_detected = True
                    await self.send("speech.endDetected", {"Offset": round(self.vad.position_ms * TICKS_PER_MS)})
            self.turn_ended = True
            await self.send("turn.end", {})
            return
        self.session.audio.extend(payload)
        if self.end_detected:
            return  # the SDK stops this turn; it replays this audio in the next one
        for event in self.vad.push(payload):
            await self._vad_event(event)
            if self.end_detected:
                return
        timeout = self.trailing_ms or self.emu.end_silence_timeout_ms
        if (
            timeout
            and self.speech_started
            and not self.vad.in_speech
            and self.last_speech_end_ms is not None
            and self.vad.position_ms - self.last_speech_end_ms >= timeout
        ):
            self.end_detected = True
            await self.send("speech.endDetected", {"Offset": round(self.vad.position_ms * TICKS_PER_MS)})

    async def _vad_event(self, event: VadEvent) -> None:
        session = self.session
        if event.kind == "start":
            index, text = self.emu.next_text(session)
            turn_offset = self.turn_base_bytes / 2 / session.sample_rate * 1000
            self.current = Utterance(
                index, len(session.utterances) + 1, self.request_id, text or "", event.start_ms, turn_offset
            )
            session.utterances.append(self.current)
            self.last_hyp_ms = event.start_ms
            if not self.speech_started or self.emu.turn_per_utterance:
                self.speech_started = True
                await self.send("speech.startDetected", {"Offset": self.current.offset_ticks})
            return
        utt = self.current
        if utt is None:
            return
        if event.kind == "speaking":
            spoken = event.end_ms - utt.start_ms
            if utt.text and event.end_ms - self.last_hyp_ms >= self.emu.hypothesis_interval_ms:
                self.last_hyp_ms = event.end_ms
                n = max(1, min(len(utt.text), round(spoken / 1000 * self.emu.chars_per_second)))
                partial = utt.text[:n]
                if not utt.hypotheses or partial != utt.hypotheses[-1]:
                    utt.hypotheses.append(partial)
                await self.send(
                    "speech.hypothesis",
                    {
                        "Text": partial,
                        "Offset": utt.offset_ticks,
                        "Duration": round(spoken * TICKS_PER_MS),
                    },
                )
            return
        # end of the utterance
        utt.end_ms = event.end_ms
        utt.final = True
        self.current = None
        self.last_speech_end_ms = event.end_ms
        if self.emu.turn_per_utterance:
            # speech.endDetected makes the SDK end the turn (it sends end of audio, then opens a new turn that
            # replays the audio after this phrase).
            self.end_detected = True
            await self.send("speech.endDetected", {"Offset": round(event.end_ms * TICKS_PER_MS)})
        await self.send("speech.phrase", self._phrase(utt))

    def _phrase(self, utt: Utterance) -> dict[str, Any]:
        if not utt.text:
            return {"RecognitionStatus": "NoMatch", "Offset": utt.offset_ticks, "Duration": utt.duration_ticks}
        body: dict[str, Any] = {
            "RecognitionStatus": "Success",
            "DisplayText": utt.text,
            "Offset": utt.offset_ticks,
            "Duration": utt.duration_ticks,
            "Channel": 0,
        }
        if self.detailed:
            body["NBest"] = [
                {
                    "Confidence": 0.95,
                    "Lexical": utt.text,
                    "ITN": utt.text,
                    "MaskedITN": utt.text,
                    "Display": utt.text,
                }
            ]
        return body


class _SynthesisConnection:
    def __init__(self, emu: SpeechEmulator) -> None:
        self.emu = emu
        self.connection_id = websocket.headers.get("X-ConnectionId", "") or new_id()
        self.contexts: dict[str, Any] = {}
        self.last_context: Any = None
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.speech_config: Any = None

    async def run(self) -> None:
        worker = asyncio.create_task(self._worker())
        try:
            while True:
                frame = await websocket.receive()
                try:
                    msg = parse_frame(frame)
                except ValueError as exc:
                    logger.warning("speech emulator: bad USP frame: %s", exc)
                    continue
                path = msg.path.lower()
                if path == "speech.config":
                    self.speech_config = _json(msg)
                elif path == "synthesis.context":
                    self.last_context = _json(msg)
                    self.contexts[msg.request_id] = self.last_context
                elif path == "ssml":
                    body = msg.body if isinstance(msg.body, str) else msg.body.decode("utf-8", "replace")
                    self.queue.put_nowait((msg.request_id, body))
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _worker(self) -> None:
        while True:
            request_id, ssml = await self.queue.get()
            context = self.contexts.pop(request_id, self.last_context) or {}
            await self._speak(request_id, ssml, context)

    async def _speak(self, request_id: str, ssml: str, context: Any) -> None:
        emu = self.emu
        fmt_name = ((context.get("synthesis") or {}).get("audio") or {}).get(
            "outputFormat"
        ) or "riff-16khz-16bit-mono-pcm"
        text, voice, lang = ssml_text(ssml)
        record = Synthesis(self.connection_id, request_id, ssml, text, voice, lang, fmt_name)
        emu.syntheses.append(record)
        try:
            fmt = parse_output_format(fmt_name)
        except ValueError as exc:
            record.error = str(exc)
            await websocket.close(1007, str(exc)[:120])
            return
        await websocket.send(text_frame("turn.start", request_id, {"context": {"serviceTag": SERVICE_TAG}}))
        audio = synthesize(text, fmt)
        chunk = max(fmt.bytes_per_sample, fmt.rate * emu.tts_chunk_ms // 1000 * fmt.bytes_per_sample)
        if emu.tts_first_chunk_delay:
            await asyncio.sleep(emu.tts_first_chunk_delay)
        started = time.monotonic()
        for pos in range(0, len(audio), chunk):
            piece = audio[pos : pos + chunk]
            if emu.tts_realtime_factor:
                due = started + pos / fmt.bytes_per_sample / fmt.rate / emu.tts_realtime_factor
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await websocket.send(binary_frame("audio", request_id, piece, extra={"X-StreamId": "1"}))
            if record.first_audio_at is None:
                record.first_audio_at = time.monotonic()
            record.audio.extend(piece)
        await websocket.send(text_frame("turn.end", request_id, {}))
        record.completed = True


def _json(msg: UspMessage) -> Any:
    try:
        return msg.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _continuation_offset_ticks(context: Any) -> int | None:
    try:
        value = context["continuation"]["audio"]["streams"]["1"]["offset"]
        return int(value)
    except (KeyError, TypeError, ValueError):
        return None


def _segmentation_silence(context: Any) -> int | None:
    """``Speech_SegmentationSilenceTimeoutMs`` as the SDK sends it in ``speech.context``:
    ``phraseDetection.<MODE>.segmentation.segmentationSilenceTimeoutMs`` (MODE e.g. ``CONVERSATION``)."""
    detection = context.get("phraseDetection") if isinstance(context, dict) else None
    if not isinstance(detection, dict):
        return None
    for value in detection.values():
        if isinstance(value, dict) and isinstance(value.get("segmentation"), dict):
            ms = value["segmentation"].get("segmentationSilenceTimeoutMs")
            if isinstance(ms, int | float) and ms > 0:
                return int(ms)
    return None


def _trailing_silence(context: Any, args: Any) -> int | None:
    """``SpeechServiceConnection_EndSilenceTimeoutMs``: ``phraseDetection.trailingSilenceTimeout`` in
    ``speech.context`` and ``endSilenceTimeoutMs`` in the query."""
    detection = context.get("phraseDetection") if isinstance(context, dict) else None
    value = detection.get("trailingSilenceTimeout") if isinstance(detection, dict) else None
    if value is None:
        value = args.get("endSilenceTimeoutMs")
    try:
        return int(value) if value is not None and int(value) > 0 else None
    except (TypeError, ValueError):
        return None
