"""The ACS emulator driven by the real Call Automation SDK, with a tiny Quart "gateway" on the other side that
validates callback and media JWTs against the emulator's JWKS, as a real gateway would."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import numpy as np
import pytest
from azure.communication.callautomation import (
    AudioFormat,
    DtmfTone,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    StreamingTransportType,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from quart import Quart, Response, request, websocket

from gateway.audio import b64encode, frame_bytes, read_wav, resample, rms
from gateway.emulators.acs import (
    ACS_ISSUER,
    AcsEmulator,
    Dtmf,
    ForgedToken,
    PhonePlayout,
    PlayConfig,
    cloudevents_handshake,
    handshake_allowed,
    send_subscription_validation,
    sign_headers,
    verify_request,
)
from gateway.emulators.serving import serve_app

DATA = Path(__file__).resolve().parent.parent / "data"
GREETING_24K = DATA / "ja_greeting_reply_24k.wav"
GREETING_16K = DATA / "ja_greeting_reply_16k.wav"


@dataclass
class MediaLog:
    headers: dict[str, str]
    claims: dict[str, Any]
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    outbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    def audio(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m["audioData"]) for t, m in self.messages if m["kind"] == "AudioData"]


class FakeGateway:
    """Just enough of a gateway: answers IncomingCall through the SDK, checks every token, records what arrives."""

    def __init__(self, emulator: AcsEmulator, acs_url: str, media: MediaStreamingOptions | None = None) -> None:
        self.emulator = emulator
        self.client = CallAutomationClient(acs_url, AzureKeyCredential(emulator.config.access_key))
        self.jwks = jwt.PyJWKClient(f"{acs_url}/calling/keys")
        self.media = media
        self.call_connection_id: str | None = None
        self.callbacks: list[dict[str, Any]] = []
        self.rejected_callbacks = 0
        self.media_logs: list[MediaLog] = []
        self.on_caller_speech: list[dict[str, Any]] = []  # sent once the first non-silent frame arrives
        self.app = self._build()

    def _validate(self, header: str | None) -> dict[str, Any] | None:
        if not header or not header.startswith("Bearer "):
            return None
        token = header.split(" ", 1)[1]
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token, key.key, algorithms=["RS256"], issuer=ACS_ISSUER, audience=self.emulator.config.resource_id
            )
        except jwt.PyJWTError:
            return None

    def _build(self) -> Quart:
        app = Quart("fake-gateway")

        @app.route("/api/incomingCall", methods=["OPTIONS"])
        async def handshake() -> Response:
            origin = request.headers.get("WebHook-Request-Origin", "")
            return Response("", 200, {"WebHook-Allowed-Origin": origin, "Allow": "POST"})

        @app.post("/api/incomingCall")
        async def incoming() -> Any:
            event = (await request.get_json())[0]
            if request.headers.get("aeg-event-type") == "SubscriptionValidation":
                return {"validationResponse": event["data"]["validationCode"]}
            host = request.host_url.rstrip("/")
            media = self.media
            if media is not None:
                media.transport_url = host.replace("http://", "ws://") + "/ws"
            props = await self.client.answer_call(
                event["data"]["incomingCallContext"], f"{host}/api/callbacks", media_streaming=media
            )
            self.call_connection_id = props.call_connection_id
            return ""

        @app.post("/api/callbacks")
        async def callbacks() -> Any:
            claims = await asyncio.to_thread(self._validate, request.headers.get("Authorization"))
            if claims is None:
                self.rejected_callbacks += 1
                return "", 401
            for event in await request.get_json():
                self.callbacks.append({"claims": claims, **event})
            return ""

        @app.websocket("/ws")
        async def media_ws() -> Any:
            claims = await asyncio.to_thread(self._validate, websocket.headers.get("Authorization"))
            if claims is None:
                return "", 401
            await websocket.accept()
            log = MediaLog({k.lower(): v for k, v in websocket.headers.items()}, claims)
            self.media_logs.append(log)

            async def pump() -> None:
                while True:
                    await websocket.send(json.dumps(await log.outbox.get()))

            sender = asyncio.create_task(pump())
            try:
                while True:
                    msg = json.loads(await websocket.receive())
                    log.messages.append((time.monotonic(), msg))
                    if msg["kind"] == "AudioData" and not msg["audioData"]["silent"]:
                        while self.on_caller_speech:
                            log.outbox.put_nowait(self.on_caller_speech.pop(0))
            finally:
                sender.cancel()

        return app

    def types(self) -> list[str]:
        return [e["type"].removeprefix("Microsoft.Communication.") for e in self.callbacks]


@contextlib.asynccontextmanager
async def running(
    media: MediaStreamingOptions | None = None, **config: Any
) -> AsyncIterator[tuple[AcsEmulator, FakeGateway, str]]:
    emulator = AcsEmulator(**config)
    async with emulator.serve() as acs_url:
        gateway = FakeGateway(emulator, acs_url, media)
        async with gateway.client, serve_app(gateway.app) as gw_url:
            yield emulator, gateway, gw_url
    leaked = [t for t in asyncio.all_tasks() if t.get_name().startswith("acs-emu")]
    assert not leaked, leaked


def media_options(audio_format: AudioFormat, start: bool, dtmf: bool = False) -> MediaStreamingOptions:
    return MediaStreamingOptions(
        transport_url="ws://set-by-gateway",
        transport_type=StreamingTransportType.WEBSOCKET,
        content_type=MediaStreamingContentType.AUDIO,
        audio_channel_type=MediaStreamingAudioChannelType.MIXED,
        start_media_streaming=start,
        enable_bidirectional=True,
        audio_format=audio_format,
        enable_dtmf_tones=dtmf,
    )


def tone(seconds: float, rate: int = 24_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


@pytest.mark.asyncio
async def test_sdk_call_flow_with_signed_callbacks_and_playout() -> None:
    async with running(media_options(AudioFormat.PCM24_K_MONO, start=False), play=PlayConfig(duration_s=0.2)) as (
        emulator,
        gateway,
        gw_url,
    ):
        validation = await send_subscription_validation(f"{gw_url}/api/incomingCall")
        assert validation.ok
        call = await emulator.incoming_call(f"{gw_url}/api/incomingCall", wav=GREETING_24K, lead_silence_ms=100)
        assert call.incoming_response is not None and call.incoming_response.status == 200
        await call.wait_for("CallConnected")
        assert gateway.call_connection_id == call.call_connection_id

        answer = emulator.requests_for("answer")[0].body
        assert answer["mediaStreamingOptions"]["audioFormat"] == "pcm24KMono"
        assert answer["mediaStreamingOptions"]["startMediaStreaming"] is False
        assert answer["mediaStreamingOptions"]["enableBidirectional"] is True

        connection = gateway.client.get_call_connection(call.call_connection_id)
        await connection.play_media(
            TextSource(text="お電話ありがとうございます。", voice_name="ja-JP-NanamiNeural"), operation_context="greet"
        )
        completed = await call.wait_for("PlayCompleted", 3)
        assert completed.data["operationContext"] == "greet"
        assert emulator.requests_for("play")[0].body["playSources"][0]["text"]["text"] == "お電話ありがとうございます。"

        await connection.start_media_streaming(operation_context="ms")
        started = await call.wait_for("MediaStreamingStarted", 3)
        assert started.data["mediaStreamingUpdate"]["mediaStreamingStatus"] == "mediaStreamingStarted"
        assert emulator.operations() == ["answer", "play", "startMediaStreaming"]

        # The agent answers with 1 s of audio, then barges out after ~300 ms of playout.
        log = gateway.media_logs[0]
        agent = tone(1.0)
        for i in range(0, len(agent), 960):
            log.outbox.put_nowait(
                {"Kind": "AudioData", "AudioData": {"Data": b64encode(agent[i : i + 960])}, "StopAudio": None}
            )
        timeline = await call.wait_for(lambda c: c.timeline if c.timeline and len(c.timeline.received) == 50 else None)
        await asyncio.sleep(0.3)
        log.outbox.put_nowait({"kind": "StopAudio", "stopAudio": {}})
        await call.wait_for(lambda c: c.timeline.stop_audio_times, 2)

        await connection.hang_up(is_for_everyone=False)
        await call.wait_for("CallDisconnected", 3)
        await call.wait_closed()

    assert gateway.types() == [
        "CallConnected",
        "PlayStarted",
        "PlayCompleted",
        "MediaStreamingStarted",
        "CallDisconnected",
    ]
    assert gateway.rejected_callbacks == 0
    claims = gateway.callbacks[0]["claims"]
    assert claims["iss"] == ACS_ISSUER and claims["aud"] == emulator.config.resource_id
    assert 250 <= claims["exp"] - claims["iat"] <= 300
    data = gateway.callbacks[0]["data"]
    assert {"callConnectionId", "serverCallId", "correlationId", "resultInformation"} <= data.keys()

    assert log.headers["x-ms-call-connection-id"] == call.call_connection_id
    assert log.headers["x-ms-call-correlation-id"] == call.correlation_id
    assert log.claims["exp"] - log.claims["iat"] == 24 * 3600
    kind, metadata = log.messages[0][1]["kind"], log.messages[0][1]["audioMetadata"]
    assert kind == "AudioMetadata" and metadata["sampleRate"] == 24000 and metadata["length"] == 960
    assert all(len(base64.b64decode(a["data"])) == 960 for _, a in log.audio())
    assert log.audio()[0][1]["participantRawID"] == "4:+819012345678"

    received, heard = call.received_pcm(), call.heard_pcm()
    assert received == agent
    assert heard == agent[: len(heard)]
    heard_s = len(heard) / 48_000
    assert 0.2 <= heard_s <= 0.6, heard_s
    assert timeline.playout.dropped_bytes() == len(agent) - len(heard)


@pytest.mark.asyncio
async def test_media_stream_paced_in_real_time_at_16k() -> None:
    hai = read_wav(DATA / "ja_backchannel_hai_24k.wav")
    async with running(media_options(AudioFormat.PCM16_K_MONO, start=True, dtmf=True)) as (emulator, gateway, gw_url):
        # The agent is mid-sentence when the caller starts speaking; the gateway barges in on the first voiced frame.
        gateway.on_caller_speech = [{"Kind": "StopAudio", "AudioData": None, "StopAudio": {}}]
        call = await emulator.incoming_call(
            f"{gw_url}/api/incomingCall", wav=GREETING_16K, script=[hai, Dtmf("1")], lead_silence_ms=300
        )
        await call.wait_for("MediaStreamingStarted", 3)
        log = gateway.media_logs[0]
        agent = tone(2.0, 16_000)
        log.outbox.put_nowait({"kind": "AudioData", "audioData": {"data": b64encode(agent)}})
        timeline = await call.wait_for(
            lambda c: (
                c.timeline
                if c.timeline and len(c.timeline.speech) == 2 and c.timeline.speech[1].last_frame is not None
                else None
            ),
            5,
        )
        await asyncio.sleep(0.2)
        await call.hang_up()

    assert emulator.requests_for("answer")[0].body["mediaStreamingOptions"]["enableDtmfTones"] is True
    assert {"kind": "DtmfData", "dtmfData": {"data": "1"}} in [m for _, m in log.messages]
    assert [d for d, _ in timeline.dtmf_sent] == ["1"]
    frames = log.audio()
    assert log.messages[0][1]["audioMetadata"] == {
        "subscriptionId": log.messages[0][1]["audioMetadata"]["subscriptionId"],
        "encoding": "PCM",
        "sampleRate": 16000,
        "channels": 1,
        "length": 640,
    }
    pcm = [base64.b64decode(a["data"]) for _, a in frames]
    assert all(len(p) == frame_bytes(16_000) for p in pcm)
    voiced = [p for (_, a), p in zip(frames, pcm, strict=True) if not a["silent"]]
    greeting = read_wav(GREETING_16K).pcm
    n = math.ceil(len(greeting) / 640)
    assert b"".join(voiced[:n]) == greeting.ljust(n * 640, b"\0")
    assert len(voiced) - n == math.ceil(len(resample(hai.pcm, 24_000, 16_000)) / 640)
    assert rms(b"".join(voiced)) > 300
    assert all(not any(p) for (_, a), p in zip(frames, pcm, strict=True) if a["silent"])

    # Real-time pacing without drift: arrivals track start + k * 20 ms.
    arrivals = [t for t, _ in frames]
    lateness = [t - (arrivals[0] + k * 0.02) for k, t in enumerate(arrivals)]
    assert max(abs(x) for x in lateness) < 0.06, max(lateness)
    assert abs((arrivals[-1] - arrivals[0]) / (len(arrivals) - 1) - 0.02) < 0.002
    assert max(timeline.send_lateness()) < 0.06

    # Timeline latencies: the caller started speaking after 300 ms of silence; StopAudio followed promptly.
    speech_start = timeline.speech_start(0)
    assert speech_start is not None and abs(speech_start - timeline.schedule_start - 0.3) < 0.06
    stop = timeline.first_stop_audio_after(speech_start)
    assert stop is not None and stop - speech_start < 0.2
    heard_s = len(call.heard_pcm()) / 32_000
    assert 0.2 <= heard_s <= 0.5, heard_s
    assert call.received_pcm() == agent
    assert gateway.types()[-1] == "CallDisconnected"


@pytest.mark.asyncio
async def test_wrong_key_and_bad_requests_rejected() -> None:
    async with running() as (emulator, _gateway, _gw_url):
        wrong = base64.b64encode(b"not-the-key").decode()
        async with CallAutomationClient(emulator.base_url, AzureKeyCredential(wrong)) as client:
            with pytest.raises(HttpResponseError) as err:
                await client.get_call_connection("any").get_call_properties()
        assert err.value.status_code == 401
        assert emulator.requests[-1].status == 401

        async with CallAutomationClient(emulator.base_url, AzureKeyCredential(emulator.config.access_key)) as client:
            with pytest.raises(HttpResponseError) as err:
                await client.get_call_connection("missing").get_call_properties()
        assert err.value.status_code == 404

        host = emulator.base_url.removeprefix("http://")
        path = "/calling/callConnections:answer"
        body = json.dumps({"incomingCallContext": "x", "callbackUri": "http://127.0.0.1:9/cb"}).encode()
        async with aiohttp.ClientSession() as http:
            no_version = sign_headers(emulator.config.access_key, "POST", path, host, body)
            async with http.post(emulator.base_url + path, data=body, headers=no_version) as resp:
                assert resp.status == 400
            pq = path + "?api-version=2026-03-12"
            signed = sign_headers(emulator.config.access_key, "POST", pq, host, body)
            async with http.post(emulator.base_url + pq, data=body + b" ", headers=signed) as resp:
                assert resp.status == 401
                assert "x-ms-content-sha256" in (await resp.json())["error"]["message"]
            async with http.post(emulator.base_url + pq, data=body, headers=signed) as resp:
                assert resp.status == 400  # signature fine; the incomingCallContext is unknown
                assert (await resp.json())["error"]["code"] == "InvalidIncomingCallContext"


@pytest.mark.asyncio
async def test_forged_callbacks_and_media_tokens_are_detectable() -> None:
    async with running(media_options(AudioFormat.PCM24_K_MONO, start=True)) as (emulator, gateway, gw_url):
        call = await emulator.incoming_call(f"{gw_url}/api/incomingCall")
        await call.wait_for("MediaStreamingStarted", 3)
        for kind in ForgedToken:
            assert await emulator.send_callback(call, token=emulator.issuer.forge(kind)) == 401, kind
        assert await emulator.send_callback(call, token=None) == 401
        assert await emulator.send_callback(call, "ParticipantsUpdated", token=emulator.issuer.callback_token()) == 200

        refused = await emulator.probe_media(call, token=None)
        assert not refused.accepted and refused.status == 401
        expired = await emulator.probe_media(call, token=emulator.issuer.forge(ForgedToken.EXPIRED))
        assert not expired.accepted and expired.status == 401
        valid = await emulator.probe_media(call, token=emulator.issuer.media_token(), wait_s=0.2)
        assert valid.accepted

        handshake = await cloudevents_handshake(f"{gw_url}/api/incomingCall")
        assert handshake_allowed(handshake)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{emulator.base_url}/calling/.well-known/acsopenidconfiguration") as resp,
        ):
            openid = await resp.json()
        assert openid["issuer"] == ACS_ISSUER and openid["jwks_uri"] == f"{emulator.base_url}/calling/keys"
        await call.hang_up()
    assert gateway.rejected_callbacks == len(ForgedToken) + 1


@pytest.mark.asyncio
async def test_play_failure_cancel_and_dtmf() -> None:
    async with running(play=PlayConfig(duration_s=5.0)) as (emulator, gateway, gw_url):
        call = await emulator.incoming_call(f"{gw_url}/api/incomingCall")
        await call.wait_for("CallConnected")
        connection = gateway.client.get_call_connection(call.call_connection_id)
        await connection.play_media(TextSource(text="long prompt"), operation_context="long")
        await call.wait_for("PlayStarted")
        await connection.cancel_all_media_operations()
        canceled = await call.wait_for("PlayCanceled")
        assert canceled.data["operationContext"] == "long"

        call.plays.config = PlayConfig(fail=True)
        await connection.play_media(TextSource(text="broken"), operation_context="bad")
        failed = await call.wait_for("PlayFailed")
        assert failed.data["resultInformation"]["code"] != 200 and failed.data["failedPlaySourceIndex"] == 0

        caller = PhoneNumberIdentifier(call.caller)
        await connection.start_continuous_dtmf_recognition(caller)
        assert call.continuous_dtmf
        result = await connection.send_dtmf_tones([DtmfTone.ONE, DtmfTone.POUND], caller, operation_context="dtmf")
        assert result.operation_context == "dtmf"
        await call.wait_for("SendDtmfTonesCompleted")
        assert emulator.requests_for("sendDtmfTones")[0].body["tones"] == ["one", "pound"]
        await call.hang_up()
        with pytest.raises(HttpResponseError) as err:
            await connection.hang_up(is_for_everyone=True)
        assert err.value.status_code == 404
    assert gateway.types() == [
        "CallConnected",
        "PlayStarted",
        "PlayCanceled",
        "PlayFailed",
        "SendDtmfTonesCompleted",
        "CallDisconnected",
    ]


def test_phone_playout_model() -> None:
    playout = PhonePlayout(24_000)  # 48 000 bytes per second
    playout.push(bytes(9600), now=10.0)  # 200 ms
    playout.push(bytes(9600), now=10.05)  # queued behind the first
    assert math.isclose(playout.queued_s(10.1), 0.3)
    dropped = playout.stop(10.1)
    assert dropped == 2 * 9600 - 4800
    assert math.isclose(playout.played_s(11.0), 0.1)
    playout.push(b"\1\0" * 480, now=10.5)  # after a StopAudio, new audio plays on arrival
    assert playout.segments[-1].start == 10.5
    assert len(playout.heard_pcm()) == 4800 + 960


def test_hmac_matches_sdk_recipe() -> None:
    key = base64.b64encode(b"secret-key").decode()
    headers = sign_headers(key, "POST", "/calling/callConnections:answer?api-version=x", "127.0.0.1:8080", b"{}")
    headers["host"] = "127.0.0.1:8080"
    assert verify_request(key, "POST", "/calling/callConnections:answer?api-version=x", headers, b"{}").ok
    assert not verify_request(key, "POST", "/calling/callConnections:answer?api-version=y", headers, b"{}").ok
    assert not verify_request(key, "GET", "/calling/callConnections:answer?api-version=x", headers, b"{}").ok
    assert verify_request(
        key, "POST", "/calling/callConnections:answer?api-version=x", headers, b"{} "
    ).reason.startswith("x-ms-content-sha256")


@pytest.mark.asyncio
async def test_outbound_call_through_create_call() -> None:
    async with running() as (emulator, gateway, gw_url):
        props = await gateway.client.create_call(
            PhoneNumberIdentifier("+819011112222"),
            f"{gw_url}/api/callbacks",
            source_caller_id_number=PhoneNumberIdentifier(emulator.config.acs_number),
        )
        call = await emulator.wait_for_call(lambda c: c.direction == "outbound")
        assert props.call_connection_id == call.call_connection_id and call.callee == "+819011112222"
        await call.wait_for("CallConnected")
        fetched = await gateway.client.get_call_connection(call.call_connection_id).get_call_properties()
        assert fetched.call_connection_state == "connected"
        assert emulator.requests_for("create")[0].status == 201
        await call.hang_up()
    assert gateway.types() == ["CallConnected", "CallDisconnected"]
