"""The provider's REST side for browsers: minting ephemeral keys, and the SDP endpoint a browser dials with one.

Routes (as the real services spell them):
- ``POST /v1/realtime/client_secrets`` (OpenAI GA, ``Authorization: Bearer <api key>``)
- ``POST /openai/v1/realtime/client_secrets`` (Azure GA, ``api-key`` header)
- ``POST /openai/realtimeapi/sessions?api-version=...`` (Azure preview, ``api-key`` header; keys last one minute)
- ``POST /v1/realtime/calls`` and ``/openai/v1/realtime/calls`` (``Content-Type: application/sdp``,
  ``Authorization: Bearer <ephemeral key>``; 201 with the SDP answer and a ``Location`` header)
- ``POST .../realtime/calls/<id>/hangup`` (server side, real key)
- ``WS /v1/realtime?call_id=<id>``, ``/openai/v1/realtime?call_id=<id>`` and the preview
  ``/openai/realtime?api-version=...&call_id=<id>`` (server side, real key): the call's "sideband" socket, which
  gets every event of the session and may send client events, as the data channel may

The SDP endpoint answers cross-origin requests (CORS), since the page that calls it is served by the gateway.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, jsonify, request, websocket

from gateway.emulators.realtime.dialect import Dialect
from gateway.emulators.realtime.session_config import SessionError, SessionSettings
from gateway.emulators.realtime.wire import new_id

from .call import EmulatedCall
from .config import DEFAULT_TTL_S, MAX_TTL_S, MIN_TTL_S
from .records import CallRecord, ReceivedAudio

if TYPE_CHECKING:
    from .emulator import WebRtcEmulator

logger = logging.getLogger(__name__)


def _error(status: int, message: str, code: str | None = None, param: str | None = None) -> tuple[Response, int]:
    return jsonify(error={"message": message, "type": "invalid_request_error", "code": code, "param": param}), status


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :].strip() if header.startswith("Bearer ") else None


def create_webrtc_app(emulator: WebRtcEmulator) -> Quart:
    """Build the ASGI app serving ``emulator`` (serve it with ``gateway.emulators.serving.serve_app``)."""
    app = Quart("gateway.emulators.webrtc")
    config = emulator.config

    def real_key(allow_api_key_header: bool) -> str | None:
        key = _bearer() or (request.headers.get("api-key") if allow_api_key_header else None)
        if not key:
            return None
        if config.api_keys is not None and key not in config.api_keys:
            return None
        return "api-key-header" if request.headers.get("api-key") == key else "bearer"

    def session_for(dialect: Dialect, payload: Any, model: str) -> SessionSettings:
        settings = SessionSettings(dialect, new_id("sess"), model, config.default_instructions, DEFAULT_TTL_S)
        settings.apply_update(payload, strict=config.strict, has_assistant_audio=False)
        return settings

    async def mint_ga(endpoint: str) -> tuple[Response, int]:
        auth = real_key(allow_api_key_header=endpoint == "azure-ga")
        if auth is None:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if emulator.faults.mint_status:
            return _error(emulator.faults.mint_status, "The service is temporarily unavailable.", "service_unavailable")
        body = await request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "We could not parse the JSON body of your request.", "invalid_json")
        seconds = (body.get("expires_after") or {}).get("seconds", DEFAULT_TTL_S)
        if not isinstance(seconds, int) or not MIN_TTL_S <= seconds <= MAX_TTL_S:
            return _error(400, f"expires_after.seconds must be between {MIN_TTL_S} and {MAX_TTL_S}.", "invalid_value",
                          "expires_after.seconds")  # fmt: skip
        session = body.get("session") or {}
        try:
            settings = session_for(Dialect.GA, session, str(session.get("model") or "gpt-realtime"))
        except SessionError as exc:
            return _error(400, exc.message, exc.code, exc.param)
        key = emulator.keys.issue(ttl_s=seconds, endpoint=endpoint, dialect=Dialect.GA, session=settings.snapshot(),
                                  body=body, auth=auth)  # fmt: skip
        logger.info("minted %s key (%ss) for %s", endpoint, seconds, settings.data.get("model"))
        return jsonify(value=key.value, expires_at=key.expires_at, session=key.session), 200

    @app.post("/v1/realtime/client_secrets")
    async def openai_client_secrets() -> tuple[Response, int]:
        return await mint_ga("openai")

    @app.post("/openai/v1/realtime/client_secrets")
    async def azure_client_secrets() -> tuple[Response, int]:
        return await mint_ga("azure-ga")

    @app.post("/openai/realtimeapi/sessions")
    async def azure_preview_sessions() -> tuple[Response, int]:
        auth = real_key(allow_api_key_header=True)
        if auth is None:
            return _error(401, "Access denied due to invalid subscription key or wrong API endpoint.", "401")
        if not request.args.get("api-version"):
            return _error(404, "Resource not found (api-version missing).", "404")
        if emulator.faults.mint_status:
            return _error(emulator.faults.mint_status, "The service is temporarily unavailable.", "service_unavailable")
        body = await request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("model"):
            return _error(400, "Missing required parameter: 'model'.", "missing_required_parameter", "model")
        try:
            settings = session_for(Dialect.BETA, body, str(body["model"]))
        except SessionError as exc:
            return _error(400, exc.message, exc.code, exc.param)
        key = emulator.keys.issue(ttl_s=config.preview_key_ttl_s, endpoint="azure-preview", dialect=Dialect.BETA,
                                  session=settings.snapshot(), body=body, auth=auth)  # fmt: skip
        return jsonify({**key.session, "client_secret": {"value": key.value, "expires_at": key.expires_at}}), 200

    async def sdp(path: str) -> Response | tuple[Response, int]:
        if emulator.faults.calls_delay_s:
            await asyncio.sleep(emulator.faults.calls_delay_s)
        if emulator.closing:
            return _error(503, "The service is shutting down.", "service_unavailable")
        if emulator.faults.calls_status:
            return _error(
                emulator.faults.calls_status, "The server had an error while processing your request.", "server_error"
            )
        key = emulator.keys.check(_bearer())
        if key is None:
            return _error(401, "Invalid or expired ephemeral key.", "invalid_api_key")
        if (request.mimetype or "") != "application/sdp":
            return _error(400, "Expected Content-Type: application/sdp.", "invalid_content_type")
        offer = (await request.get_data(as_text=True)) or ""
        if not offer.startswith("v=0"):
            return _error(400, "The body is not an SDP offer.", "invalid_offer")
        record = CallRecord(
            call_id=new_id("rtc"),
            path=path,
            key=key,
            offer_sdp=offer,
            session=copy.deepcopy(key.session),
            audio_in=ReceivedAudio(config.keep_audio_s),
        )
        settings = SessionSettings(key.dialect, str(key.session.get("id") or new_id("sess")), str(key.session.get("model")),
                                   config.default_instructions, DEFAULT_TTL_S)  # fmt: skip
        settings.data = copy.deepcopy(key.session)
        call = EmulatedCall(config, record, settings)
        emulator.add_call(call)
        answer = await call.answer(offer)
        location = f"{path}/{record.call_id}"
        return Response(answer, status=201, content_type="application/sdp", headers={"Location": location})

    @app.post("/v1/realtime/calls")
    async def openai_calls() -> Response | tuple[Response, int]:
        return await sdp("/v1/realtime/calls")

    @app.post("/openai/v1/realtime/calls")
    async def azure_calls() -> Response | tuple[Response, int]:
        return await sdp("/openai/v1/realtime/calls")

    @app.post("/v1/realtime/calls/<call_id>/hangup")
    @app.post("/openai/v1/realtime/calls/<call_id>/hangup")
    async def hangup(call_id: str) -> tuple[Response, int]:
        if real_key(allow_api_key_header=True) is None:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if not await emulator.hang_up(call_id):
            return _error(404, f"No call '{call_id}'.", "not_found")
        return jsonify({}), 200

    async def sideband() -> Response | None:
        key = websocket.headers.get("api-key") or (websocket.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not key or (config.api_keys is not None and key not in config.api_keys):
            body, status = _error(401, "Incorrect API key provided.", "invalid_api_key")
            return Response(await body.get_data(), status=status, content_type="application/json")
        call = emulator.live.get(websocket.args.get("call_id", ""))
        if call is None or call.record.closed:
            body, status = _error(404, f"No call '{websocket.args.get('call_id')}'.", "not_found")
            return Response(await body.get_data(), status=status, content_type="application/json")
        await websocket.accept()
        outbox: asyncio.Queue[str | None] = asyncio.Queue()
        call.sidebands.add(outbox)
        call.record.sideband_connects += 1
        outbox.put_nowait(json.dumps({"type": "session.created", "event_id": new_id("event"),
                                      "session": call.settings.snapshot()}, ensure_ascii=False))  # fmt: skip

        async def read() -> None:
            while True:
                raw = await websocket.receive()
                call.sideband_message(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"))

        reader = asyncio.create_task(read(), name=f"sideband-{call.record.call_id}")
        try:
            while (text := await outbox.get()) is not None:  # None: the call ended, the socket closes with it
                await websocket.send(text)
        finally:
            call.sidebands.discard(outbox)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        return None

    app.websocket("/v1/realtime")(sideband)
    app.websocket("/openai/v1/realtime", endpoint="azure_sideband")(sideband)
    app.websocket("/openai/realtime", endpoint="preview_sideband")(sideband)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"ok": True, "mints": len(emulator.keys.mints), "calls": len(emulator.calls), "live": len(emulator.live)}

    @app.after_request
    async def cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "Location"
        return response

    @app.after_serving
    async def close_calls() -> None:
        await emulator.close_all()

    return app
