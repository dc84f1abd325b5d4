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

Synthesis (``/cognitiveservices/websocket/v1``): each ``ssml`` message is validated as Azure does
(``gateway.emulators.ssml``) and answered with ``turn.start``, binary ``Path:audio`` frames (recorded speech
looped to a length that scales with the spoken text, in the requested ``outputFormat``, paced at
``tts_realtime_factor`` times real time), then ``turn.end``. An invalid document ends the turn the way the service
does: the socket closes with code 1007 and the reason, which the SDK reports as a canceled synthesis
(``CancellationReason.Error``, "Connection was closed by the remote host. Error code: 1007. Error details: ...").

``POST /sts/v1.0/issueToken`` issues short-lived tokens, accepted as ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from quart import Quart, Response, request, websocket

from gateway.emulators.polling import poll_until
from gateway.emulators.speech.recognition import RecognitionConnection
from gateway.emulators.speech.records import (
    RecognitionSession,
    Script,
    ScriptEntry,
    Synthesis,
    placeholder_text,
)
from gateway.emulators.speech.synthesis import SynthesisConnection
from gateway.emulators.speech.usp import new_id

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
    def texts_spoken(self) -> list[str]:
        """What each synthesis asked the voice to say (``sub`` aliases and ``phoneme`` readings applied)."""
        return [s.spoken for s in self.syntheses]

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
        await poll_until(predicate, limit, "speech emulator")

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

        def usp_socket(connection: type[RecognitionConnection] | type[SynthesisConnection]) -> Callable[[], Awaitable[Response | None]]:
            """A USP endpoint: the key or token checked before the upgrade, then ``connection`` speaks the protocol."""

            async def serve() -> Response | None:
                if not self._authorized(websocket.headers, websocket.args):
                    self.rejected.append({"path": websocket.path, **dict(websocket.headers)})
                    return Response("Unauthorized", 401)
                await websocket.accept(subprotocol="USP" if "USP" in websocket.requested_subprotocols else None)
                await connection(self).run()
                return None

            return serve

        recognition, synthesis = usp_socket(RecognitionConnection), usp_socket(SynthesisConnection)

        app.add_url_rule("/sts/v1.0/issueToken", "issue_token", issue_token, methods=["POST"])
        app.add_url_rule("/sts/v1.0/issuetoken", "issue_token_lc", issue_token, methods=["POST"])
        for i, path in enumerate(RECOGNITION_PATHS):
            app.add_websocket(path, f"recognition{i}", recognition)
        for i, path in enumerate(SYNTHESIS_PATHS):
            app.add_websocket(path, f"synthesis{i}", synthesis)
        return app
