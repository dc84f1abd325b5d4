"""HTTP and WebSocket routes of the Twilio channel: the Voice URL (TwiML answer), call status callbacks, and the
bidirectional Media Streams socket. Every one is signed by Twilio (``X-Twilio-Signature``); anything else gets 403
and changes nothing."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from quart import Blueprint, Response, request, websocket
from werkzeug.datastructures import MultiDict

from channels.telephony.call import phone_session_id
from channels.telephony.carrier import MediaRefused
from channels.telephony.registry import new_call_key
from gateway.forwarding import NOT_FORWARDED
from gateway.logs import session_context
from gateway.services import Gateway
from gateway.store.sms import SmsRecords

from . import wire
from .amd import on_answered_by
from .answer import answer_twiml, busy_twiml, dial_done_twiml, unavailable_twiml
from .calls import TwilioCalls, sid_key
from .emulated import emulated_calls_hook
from .media import TwilioMedia
from .signature import SIGNATURE_HEADER, TwilioSignatures
from .status import parse_status

logger = logging.getLogger(__name__)
START_WAIT_S = 5.0  # Twilio sends start right after connected
MAX_MESSAGES_BEFORE_START = 4
TWIML = "text/xml"


def forbidden() -> Response:
    return Response("forbidden", 403, content_type="text/plain")


def create_twilio_blueprint(gw: Gateway) -> Blueprint:
    bp = Blueprint("twilio", __name__)
    settings = gw.settings
    configured = settings.twilio_configured and bool(settings.public_base_url)
    line = TwilioCalls(gw, settings) if configured else None
    signatures = TwilioSignatures(settings.twilio_auth_token, settings.public_base_url or "") if configured else None  # type: ignore[arg-type]
    bp.twilio_calls = line  # type: ignore[attr-defined]  # for tests
    bp.attach_emulator = emulated_calls_hook(line, settings)  # type: ignore[attr-defined]  # the console's demo calls

    async def signed_form() -> MultiDict | None:
        """The webhook's form when its signature is Twilio's, else ``None``."""
        assert signatures is not None
        form = await request.form
        query = request.query_string.decode("latin-1")
        if not signatures.webhook_ok(request.path, query, form, request.headers.get(SIGNATURE_HEADER)):
            logger.warning("Twilio webhook %s refused: missing or wrong X-Twilio-Signature", request.path)
            return None
        return form

    @bp.post("/api/twilio/voice")
    async def voice() -> Response:
        if line is None or signatures is None:
            return Response("the Twilio channel is not configured (see voice-gateway doctor)", 503)
        form = await signed_form()
        if form is None:
            return forbidden()
        call_sid = str(form.get("CallSid") or "")
        if not call_sid:
            return Response("a Voice URL request names its CallSid", 400)
        placed = request.args.get("call")  # a call we placed: its key; else Twilio asking again for one we answered
        owners_answer = await gw.forwarder.http(placed or sid_key(call_sid), phone_session_id(placed or call_sid))
        if owners_answer is not None:
            return owners_answer
        line.outbound_answered(request.args.get("call"), call_sid)  # a call we placed was answered
        call_key = line.key_for(call_sid)  # Twilio asking again for a call we answered: the same answer
        if call_key is None:
            if line.sid_ended(call_sid):
                return Response(busy_twiml(), 200, content_type=TWIML)
            if gw.draining:
                return Response("draining: not taking new calls", 503)  # Twilio tries the Fallback URL
            if gw.realtime is None:
                return Response(unavailable_twiml(settings), 200, content_type=TWIML)
            peer = gw.peer_with_room() if gw.at_media_capacity() and not gw.forwarder.forwarded_here() else None
            if peer is not None:  # another worker or replica has room: it answers (and owns) the call
                logger.info("at capacity (MAX_MEDIA_SESSIONS=%d): the call is handed to %s", settings.max_media_sessions, peer)
                handed = await gw.forwarder.hand_to(peer, phone_session_id(call_sid))
                if handed is not None:
                    return handed
            if gw.at_media_capacity():
                logger.warning("at capacity (MAX_MEDIA_SESSIONS=%d): a Twilio call rejected as busy", settings.max_media_sessions)
                return Response(busy_twiml(), 200, content_type=TWIML)
            call_key = new_call_key()
            await gw.owners.own(call_key, sid_key(call_sid))  # before the TwiML: its stream may reach another process
            line.answer(call_key, call_sid, str(form.get("From") or ""), gw.agent)
        elif placed:
            await gw.owners.own(call_key, sid_key(call_sid))  # its status callbacks name only the CallSid
        call = line.calls[call_key]
        with session_context(call.session_id):
            twiml, greeting = answer_twiml(call, line.stream_url(call_key), line.stream_parameter(call_key), settings)
            if greeting and call.greeting_spoken is None:
                call.greeting_said(greeting)
            logger.info("answered Twilio call %s from %s", call_sid, call.caller or "unknown")
        return Response(twiml, 200, content_type=TWIML)

    @bp.post("/api/twilio/status")
    async def status() -> Response:
        if line is None or signatures is None:
            return Response("the Twilio channel is not configured", 503)
        form = await signed_form()
        if form is None:
            return forbidden()
        update = parse_status(form)
        if update is None:
            return Response("a status callback names its CallSid and CallStatus", 400)
        owners_answer = await gw.forwarder.http(sid_key(update.call_sid), phone_session_id(update.call_sid))
        if owners_answer is not None:
            return owners_answer
        await line.on_status(update)
        return Response("", 204)

    @bp.post("/api/twilio/dial-result")
    async def dial_result() -> Response:
        """How a transfer's ``<Dial>`` went (its ``action``): the record keeps it; a failed one ends politely."""
        if line is None or signatures is None:
            return Response("the Twilio channel is not configured", 503)
        form = await signed_form()
        if form is None:
            return forbidden()
        call_key = request.args.get("call", "")
        owners_answer = await gw.forwarder.http(call_key, phone_session_id(call_key[:64]))
        if owners_answer is not None:
            return owners_answer
        dial_status = str(form.get("DialCallStatus") or "")
        connected = await line.dial_result(call_key, dial_status)
        return Response(dial_done_twiml(settings, connected), 200, content_type=TWIML)

    @bp.post("/api/twilio/amd")
    async def amd() -> Response:
        """Asynchronous answering-machine detection's result for a call we placed (``?call=<key>``, signed)."""
        if line is None or signatures is None:
            return Response("the Twilio channel is not configured", 503)
        form = await signed_form()
        if form is None:
            return forbidden()
        call_key = request.args.get("call", "")
        owners_answer = await gw.forwarder.http(call_key, phone_session_id(call_key[:64]))
        if owners_answer is not None:
            return owners_answer
        gw.spawn(on_answered_by(line, call_key, str(form.get("AnsweredBy") or "")), f"amd-{call_key[:32]}")
        return Response("", 204)  # at once: the hang-up or the message may take seconds

    @bp.post("/api/twilio/sms-status")
    async def sms_status() -> Response:
        """A message's delivery status (sent, delivered, failed, undelivered): into the SMS record."""
        if line is None or signatures is None:
            return Response("the Twilio channel is not configured", 503)
        form = await signed_form()
        if form is None:
            return forbidden()
        message_sid, status = str(form.get("MessageSid") or ""), str(form.get("MessageStatus") or "")
        if not message_sid or not status:
            return Response("a message status callback names its MessageSid and MessageStatus", 400)
        detail = str(form.get("ErrorCode") or "")
        if not await SmsRecords(gw.store).delivery(message_sid, status, detail):
            logger.info("status %s of message %s: not a message of ours", status, message_sid)
        return Response("", 204)

    @bp.websocket("/ws/twilio/<call_key>/<token>")
    async def media(call_key: str, token: str) -> Response | None:
        if line is None or signatures is None:
            return Response("the Twilio channel is not configured", 503)
        if not signatures.stream_ok(line.stream_url(call_key, token), websocket.headers.get(SIGNATURE_HEADER)):
            logger.warning("Twilio media socket for %s refused: missing or wrong X-Twilio-Signature", call_key[:8])
            return forbidden()
        if not line.verify(call_key, token):
            logger.warning("Twilio media socket for %s refused: bad call token", call_key[:8])
            return forbidden()
        relayed = await gw.forwarder.websocket(call_key, phone_session_id(call_key))
        if relayed is not NOT_FORWARDED:
            return relayed  # type: ignore[return-value]
        refusal = await line.media_refusal_everywhere(call_key)
        if refusal is not None:
            logger.warning("Twilio media socket for %s refused: %s", call_key[:8], refusal[1])
            return Response(refusal[1], refusal[0])
        call = line.get_or_create(call_key, agent=gw.agent)
        call.media_connected.set()  # single use from here on: a second socket is refused
        await websocket.accept()
        adapter: TwilioMedia | None = None
        with session_context(call.session_id):
            try:
                start = await wait_for_start(websocket.receive)
                if not hmac.compare_digest(start.custom_parameters.get("token", ""), line.stream_parameter(call_key)):
                    raise MediaRefused(1008, "the stream's token parameter is wrong")
                if call.connection_id and start.call_sid != call.connection_id:
                    raise MediaRefused(1008, "the stream belongs to another call")
                call.connection_id = call.connection_id or start.call_sid
                logger.info("Twilio media stream %s started", start.stream_sid)
                adapter = TwilioMedia(websocket.send, start, settings.twilio_audio)
                await call.run_media(adapter, websocket.receive)
            except MediaRefused as exc:
                logger.warning("Twilio media socket closed: %s", exc.reason)
                await websocket.close(exc.code, exc.reason)
            except asyncio.CancelledError:
                logger.info("Twilio media socket closed by Twilio")
                raise
            finally:
                if not call.outcome.startswith("provider"):
                    # Twilio's stop without our asking: the caller hung up (the status callback may come later)
                    outcome = "caller_hung_up" if adapter is not None and adapter.stopped else "media_closed"
                    gw.spawn(line.end(call_key, outcome), f"media-end-{call_key}")
        return None

    @bp.after_app_serving
    async def close_calls() -> None:
        if line is not None:
            await line.end_all("shutdown")

    return bp


async def wait_for_start(receive: Callable[[], Awaitable[str | bytes]]) -> wire.Start:
    """The stream's ``start`` (after ``connected``); nothing is sent to Twilio before it, nothing bridged without it."""

    async def first_start() -> wire.Start:
        for _ in range(MAX_MESSAGES_BEFORE_START):
            try:
                item = wire.parse(await receive())
            except wire.WireError as exc:
                raise MediaRefused(1008, f"malformed message before start: {exc}") from None
            if isinstance(item, wire.Start):
                return item
            if not isinstance(item, wire.Connected):
                break
        raise MediaRefused(1008, "the stream did not start")

    try:
        return await asyncio.wait_for(first_start(), START_WAIT_S)
    except TimeoutError:
        raise MediaRefused(1008, "no start message in time") from None
