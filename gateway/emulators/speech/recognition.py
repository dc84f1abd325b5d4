"""Speech-to-text: one recognition WebSocket, its turns, the VAD-driven utterances and the results sent."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from quart import websocket

from gateway.emulators.known_speech import heard
from gateway.emulators.speech.records import RecognitionSession, Utterance, placeholder_text
from gateway.emulators.speech.usp import UspMessage, new_id, parse_wav_header, text_frame
from gateway.emulators.speech.vad import TICKS_PER_MS, EnergyVad, VadEvent
from gateway.emulators.speech.wire import SERVICE_TAG, json_body, receive_messages

if TYPE_CHECKING:
    from gateway.emulators.speech.emulator import SpeechEmulator


class RecognitionConnection:
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
            async for msg in receive_messages():
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
            self.session.speech_config = json_body(msg)
        elif path == "speech.context":
            context = json_body(msg)
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
                partial = "…" if self._unscripted(utt) else utt.text[:n]
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
        if self._unscripted(utt):  # no script text: the words of a known recording, or an honest placeholder
            utt.text = self._heard(utt)
        utt.final = True
        self.current = None
        self.last_speech_end_ms = event.end_ms
        if self.emu.turn_per_utterance:
            # speech.endDetected makes the SDK end the turn (it sends end of audio, then opens a new turn that
            # replays the audio after this phrase).
            self.end_detected = True
            await self.send("speech.endDetected", {"Offset": round(event.end_ms * TICKS_PER_MS)})
        await self.send("speech.phrase", self._phrase(utt))

    def _unscripted(self, utt: Utterance) -> bool:
        return utt.text == placeholder_text(utt.index)

    def _heard(self, utt: Utterance) -> str:
        rate = self.session.sample_rate
        to_bytes = lambda ms: self.turn_base_bytes + round(ms * rate / 1000) * 2  # noqa: E731
        segment = bytes(self.session.audio[max(0, to_bytes(utt.start_ms - 400)) : to_bytes(utt.end_ms)])  # the VAD starts late
        return heard(segment, rate) if segment else utt.text

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
