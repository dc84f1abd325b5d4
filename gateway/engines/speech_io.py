"""Azure Speech SDK wrappers for the cascade engine: continuous recognition from a push stream, streaming synthesis.

The SDK is callback and thread based: its events fire on SDK threads and its ``*_async().get()`` calls block. Here
every callback is handed to the event loop with ``call_soon_threadsafe`` and every blocking call runs in a worker
thread, so the engine above sees plain asyncio. The key never leaves this process: the SDK sends it only to the
Speech service (``Ocp-Apim-Subscription-Key``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import azure.cognitiveservices.speech as speechsdk

from ..config import Settings

logger = logging.getLogger(__name__)

RECOGNITION_RATE = 16_000  # what the Speech service is fed (the push stream's format)
SYNTHESIS_FORMAT = speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm
TICKS_PER_MS = 10_000


class SpeechUnavailable(Exception):
    """The Speech service refused us or could not be reached."""


@dataclass(frozen=True, slots=True)
class SpeechTarget:
    """Where the Speech service is and how to authenticate; builds a fresh ``SpeechConfig`` per recognizer/synthesizer."""

    key: str = field(repr=False)
    region: str | None = None
    host: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SpeechTarget | None:
        if not settings.speech_configured or settings.azure_speech_key is None:
            return None
        return cls(settings.azure_speech_key.get_secret_value(), settings.azure_speech_region, settings.azure_speech_host)

    def config(self) -> speechsdk.SpeechConfig:
        if self.host:  # a region together with a host is rejected by the SDK
            return speechsdk.SpeechConfig(host=self.host, subscription=self.key)
        return speechsdk.SpeechConfig(subscription=self.key, region=self.region)


# --- recognition ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A partial result: the caller is talking."""

    text: str


@dataclass(frozen=True, slots=True)
class Phrase:
    """A final result for one utterance ("" when the service heard no words: NoMatch)."""

    text: str
    offset_ms: int
    duration_ms: int


@dataclass(frozen=True, slots=True)
class RecognitionFailed:
    details: str


RecognitionEvent = Hypothesis | Phrase | RecognitionFailed


def _post(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """Run ``callback(*args)`` on the loop from an SDK thread; events after the loop closed are dropped."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


class Recognizer:
    """Continuous recognition of a live PCM16 mono stream at 16 kHz; results go to ``on_event`` on the loop."""

    def __init__(
        self,
        target: SpeechTarget,
        language: str,
        on_event: Callable[[RecognitionEvent], None],
        segmentation_silence_ms: int | None = None,
    ) -> None:
        self.target = target
        self.language = language
        self.on_event = on_event
        self.segmentation_silence_ms = segmentation_silence_ms
        self._stream: speechsdk.audio.PushAudioInputStream | None = None
        self._recognizer: speechsdk.SpeechRecognizer | None = None
        self._connection: speechsdk.Connection | None = None
        self._running = False

    async def start(self, timeout: float = 8.0) -> None:
        """Start recognition and wait until the service accepted the connection (or refused it)."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[str | None] = loop.create_future()

        def settle(error: str | None) -> None:
            if not outcome.done():
                outcome.set_result(error)

        config = self.target.config()
        config.speech_recognition_language = self.language
        if self.segmentation_silence_ms:
            config.set_property(speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs, str(self.segmentation_silence_ms))
        fmt = speechsdk.audio.AudioStreamFormat(samples_per_second=RECOGNITION_RATE, bits_per_sample=16, channels=1)
        stream = speechsdk.audio.PushAudioInputStream(stream_format=fmt)
        recognizer = speechsdk.SpeechRecognizer(speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream))
        connection = speechsdk.Connection.from_recognizer(recognizer)

        def recognizing(evt: Any) -> None:
            text = evt.result.text
            if text:
                _post(loop, self.on_event, Hypothesis(text))

        def recognized(evt: Any) -> None:
            result = evt.result
            text = result.text if result.reason == speechsdk.ResultReason.RecognizedSpeech else ""
            _post(loop, self.on_event, Phrase(text or "", result.offset // TICKS_PER_MS, result.duration // TICKS_PER_MS))

        def canceled(evt: Any) -> None:
            details = evt.cancellation_details
            if details.reason != speechsdk.CancellationReason.Error:
                return  # end of stream: we closed it
            message = f"{details.code}: {details.error_details}"
            _post(loop, settle, message)
            if self._running:
                _post(loop, self.on_event, RecognitionFailed(message))

        recognizer.recognizing.connect(recognizing)
        recognizer.recognized.connect(recognized)
        recognizer.canceled.connect(canceled)
        connection.connected.connect(lambda _evt: _post(loop, settle, None))
        self._stream, self._recognizer, self._connection = stream, recognizer, connection
        await asyncio.to_thread(lambda: recognizer.start_continuous_recognition_async().get())
        try:
            error = await asyncio.wait_for(outcome, timeout)
        except TimeoutError:
            error = f"no connection to the Speech service within {timeout:.0f} s"
        if error is not None:
            await self.stop()
            raise SpeechUnavailable(error)
        self._running = True

    def write(self, pcm: bytes) -> None:
        """Caller audio, PCM16 mono 16 kHz (a non-blocking copy into the SDK's buffer)."""
        if self._stream is not None and pcm:
            self._stream.write(pcm)

    async def stop(self) -> None:
        self._running = False
        recognizer, stream = self._recognizer, self._stream
        self._recognizer = self._stream = self._connection = None
        if recognizer is None:
            return
        for signal in (recognizer.recognizing, recognizer.recognized, recognizer.canceled):
            signal.disconnect_all()
        if stream is not None:
            stream.close()  # end of audio: the service answers turn.end and the stop completes promptly
        try:
            await asyncio.wait_for(asyncio.to_thread(lambda: recognizer.stop_continuous_recognition_async().get()), 5)
        except (TimeoutError, RuntimeError) as exc:
            logger.info("stopping recognition: %s", exc)


# --- synthesis --------------------------------------------------------------------------------------------------------
_DONE = object()


class SynthesisFailed(Exception):
    pass


@dataclass(slots=True, eq=False)
class _Request:
    queue: asyncio.Queue[Any]
    stopped: bool = False
    result_id: str = ""


class Synthesizer:
    """One SDK synthesizer for a conversation, PCM16 mono 24 kHz, chunks streamed as the service sends them.

    The SDK runs requests one after another and fires ``synthesis_started`` for each in order; the n-th started
    event is bound to the n-th request, and every later event is routed by its result id, so chunks of a request
    that was stopped can never leak into the next one.
    """

    def __init__(self, target: SpeechTarget, voice: str | None, language: str) -> None:
        self.target = target
        self.voice = voice
        self.language = language
        self._loop: asyncio.AbstractEventLoop | None = None
        self._synth: speechsdk.SpeechSynthesizer | None = None
        self._connection: speechsdk.Connection | None = None
        self._lock = threading.Lock()
        self._unbound: collections.deque[_Request] = collections.deque()
        self._by_id: dict[str, _Request] = {}
        self._futures: list[Any] = []  # SDK futures kept alive until their request ends
        self._stop_future: Any = None

    def open(self) -> None:
        """Create the synthesizer and connect ahead of the first sentence (the connection costs a round trip)."""
        self._loop = asyncio.get_running_loop()
        config = self.target.config()
        config.set_speech_synthesis_output_format(SYNTHESIS_FORMAT)
        config.speech_synthesis_language = self.language
        if self.voice:
            config.speech_synthesis_voice_name = self.voice
        synth = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        synth.synthesis_started.connect(self._started)
        synth.synthesizing.connect(self._chunk)
        synth.synthesis_completed.connect(self._completed)
        synth.synthesis_canceled.connect(self._canceled)
        self._synth = synth
        self._connection = speechsdk.Connection.from_speech_synthesizer(synth)
        try:
            self._connection.open(True)
        except RuntimeError as exc:  # pre-connecting is an optimisation: the first request connects anyway
            logger.info("synthesis pre-connect failed: %s", exc)

    # SDK threads ---------------------------------------------------------------------------------------------------
    def _started(self, evt: Any) -> None:
        with self._lock:
            if self._unbound:
                request = self._unbound.popleft()
                request.result_id = evt.result.result_id
                self._by_id[request.result_id] = request

    def _route(self, evt: Any, item: Any, last: bool) -> None:
        with self._lock:
            rid = evt.result.result_id
            request = self._by_id.pop(rid, None) if last else self._by_id.get(rid)
        if request is not None and not request.stopped and self._loop is not None:
            _post(self._loop, request.queue.put_nowait, item)

    def _chunk(self, evt: Any) -> None:
        data = evt.result.audio_data
        if data:
            self._route(evt, bytes(data), last=False)

    def _completed(self, evt: Any) -> None:
        self._route(evt, _DONE, last=True)

    def _canceled(self, evt: Any) -> None:
        details = evt.result.cancellation_details
        self._route(evt, SynthesisFailed(f"{details.reason}: {details.error_details}"), last=True)

    # event loop ----------------------------------------------------------------------------------------------------
    async def speak(self, ssml: str) -> AsyncIterator[bytes]:
        """Audio chunks of an SSML document as they arrive; closing the iterator early stops the synthesis at once."""
        if self._synth is None:
            self.open()
        assert self._synth is not None
        request = _Request(asyncio.Queue())
        with self._lock:
            self._unbound.append(request)
        future = self._synth.speak_ssml_async(ssml)
        self._futures.append(future)
        try:
            while True:
                item = await request.queue.get()
                if item is _DONE:
                    return
                if isinstance(item, SynthesisFailed):
                    raise item
                yield item
        finally:
            self._futures.remove(future)
            self._forget(request)

    def _forget(self, request: _Request) -> None:
        """The request is over for us; if the SDK is still producing it, stop it and drop what it still sends."""
        with self._lock:
            request.stopped = True
            still_running = request in self._unbound or request.result_id in self._by_id
        if still_running and self._synth is not None:
            self._stop_future = self._synth.stop_speaking_async()

    async def close(self) -> None:
        synth, self._synth = self._synth, None
        self._connection = None
        if synth is None:
            return
        for signal in (synth.synthesis_started, synth.synthesizing, synth.synthesis_completed, synth.synthesis_canceled):
            signal.disconnect_all()
        try:
            await asyncio.wait_for(asyncio.to_thread(lambda: synth.stop_speaking_async().get()), 3)
        except (TimeoutError, RuntimeError) as exc:
            logger.info("stopping synthesis: %s", exc)
