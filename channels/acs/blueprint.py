"""HTTP and WebSocket routes of the phone channel: Event Grid webhook, Call Automation callbacks, media socket."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from urllib.parse import quote

from azure.core.exceptions import AzureError
from pydantic import SecretStr
from quart import Blueprint, Response, jsonify, request, websocket

from channels.telephony.call import PhoneCall, phone_session_id
from channels.telephony.carrier import MediaRefused
from channels.telephony.registry import LiveCalls, new_call_key
from channels.telephony.transfer import transfer_failed
from gateway.engines.providers import ws_url
from gateway.events import CallProgress, Health
from gateway.forwarding import NOT_FORWARDED
from gateway.logs import session_context, session_id_var
from gateway.services import Gateway
from gateway.store.sms import SmsRecords

from . import machine_check
from .control import APOLOGY_CONTEXT, GREETING_CONTEXT, HUMAN_CHECK_CONTEXT, CallControl
from .media import AcsMedia
from .outbound import create_failure_outcome
from .wire import IncomingCall, SmsDeliveryReport, SubscriptionValidation, WireError, parse_callbacks, parse_event_grid

logger = logging.getLogger(__name__)
TOKEN_PURPOSE = "acs"
EMULATED_PURPOSE = "acs-emulated"
TAKEOVER_EVENTS = ("CallConnected", "PlayCompleted", "PlayFailed", "PlayCanceled")  # a live call moves on


class PhoneCalls(LiveCalls):
    """The live calls of one ACS line.

    One per call control: the real ACS, and (for console demo calls) an in-process ACS emulator, whose calls get
    their own token purpose and URL base so that neither line can be steered into the other.
    """

    def __init__(
        self, gw: Gateway, control: CallControl, base_url: str | None = None, purpose: str = TOKEN_PURPOSE, verify_jwt: bool = True
    ) -> None:
        super().__init__(gw, control, purpose)
        self.control: CallControl = control
        self.base_url = base_url
        self.verify_jwt = verify_jwt
        self.owns: Callable[[str], bool] = lambda _context: False
        self.key_checks: dict[str, str] = {}  # outbound calls asking for a key before the agent: call key → state
        self.silence_checks: set[str] = set()  # outbound calls whose callee is heard before the agent speaks

    async def for_callbacks(self, call_key: str, names: list[str], agent: str | None) -> PhoneCall | None:
        """The live call these callbacks are about, or ``None`` when they must change nothing.

        Deliveries are at-least-once and may arrive late: a ``PlayCompleted`` or ``MediaStreamingStopped`` retried
        after the hang-up must not bring the call back as a ghost that holds a media slot. An ended call stays
        ended (this process remembers recent keys; the record tells for calls another worker ended), and only an
        event that moves a live call forward lets this worker take over a call it did not answer.
        """
        if call_key in self.ended:
            return None
        call = self.calls.get(call_key)
        if call is not None:
            return call
        if not any(name in TAKEOVER_EVENTS for name in names):
            return None
        if await self.gw.owners.has_ended(call_key):
            self.remember_ended(call_key)
            return None
        record = await self.gw.store.conversation(phone_session_id(call_key))
        if record is not None and record.get("ended_at"):
            self.remember_ended(call_key)
            return None
        return self.get_or_create(call_key, agent=agent)

    def urls(self, call_key: str, agent: str) -> tuple[str, str]:
        base = self.base_url or self.gw.settings.public_base_url or ""
        query = f"token={self.sign(call_key)}&agent={quote(agent)}"
        return f"{base}/api/callbacks/{call_key}?{query}", f"{ws_url(base)}/ws/acs/{call_key}?{query}"


async def play_finished(call: PhoneCall, operation_context: str, ok: bool) -> None:
    if operation_context == APOLOGY_CONTEXT:
        await call.apology_done()
    elif operation_context == GREETING_CONTEXT:
        await call.greeting_done(ok)


MEDIA_WORDS = {  # ACS callback → (health word, what a presenter reads); the raw names stay in the log
    "MediaStreamingStarted": ("streaming", "phone audio streaming"),
    "MediaStreamingStopped": ("stopped", "phone audio streaming stopped"),
    "MediaStreamingFailed": ("failed", "phone audio streaming failed"),
}


def media_health(name: str, detail: str) -> Health:
    status, words = MEDIA_WORDS.get(name, ("media", "phone audio"))
    return Health(status, f"{words} ({detail})" if status == "failed" and detail else words)


def create_acs_blueprint(gw: Gateway) -> Blueprint:
    bp = Blueprint("acs", __name__)
    phone = PhoneCalls(gw, CallControl(gw.settings, gw.readings.current)) if gw.settings.acs_configured else None
    emulated: list[PhoneCalls] = []  # at most one: the console's demo-call emulator
    bp.phone_calls = phone  # type: ignore[attr-defined]  # for the console and tests

    def attach_emulator(acs_endpoint: str, access_key: str, gateway_base: str, owns: Callable[[str], bool]) -> None:
        """Answer calls that ``owns`` recognises through an in-process ACS emulator instead of the real ACS."""
        settings = gw.settings.model_copy(
            update={"acs_connection_string": None, "acs_endpoint": acs_endpoint, "acs_access_key": SecretStr(access_key)}
        )
        line = PhoneCalls(gw, CallControl(settings, gw.readings.current), base_url=gateway_base, purpose=EMULATED_PURPOSE, verify_jwt=False)
        line.owns = owns
        emulated[:] = [line]

    bp.attach_emulator = attach_emulator  # type: ignore[attr-defined]  # for the console's demo calls

    def line_for_context(incoming_call_context: str) -> PhoneCalls | None:
        return next((line for line in emulated if line.owns(incoming_call_context)), phone)

    def line_for_key(call_key: str, token: str | None) -> PhoneCalls | None:
        return next((line for line in emulated if line.verify(call_key, token)), phone)

    async def authorised(line: PhoneCalls, call_key: str, token: str | None, authorization: str | None) -> bool:
        if not line.verify(call_key, token):
            return False
        if line.verify_jwt and gw.acs_jwt is not None and not await gw.acs_jwt.validate(authorization):
            return False
        return True

    async def reject_busy(line: PhoneCalls, event: IncomingCall) -> None:
        """The caller hears busy at once, rather than a call whose audio would stutter for everyone."""
        logger.warning("at capacity (MAX_MEDIA_SESSIONS=%d): a call from %s rejected as busy", gw.settings.max_media_sessions, event.caller)
        try:
            await line.control.reject(event.incoming_call_context)
        except AzureError as exc:
            logger.error("rejecting the call failed: %s", exc)

    @bp.route("/api/incoming-call", methods=["OPTIONS"])
    async def cloudevents_handshake() -> Response:
        """CloudEvents abuse-protection handshake of Event Grid subscriptions using the CloudEvents schema."""
        origin = request.headers.get("WebHook-Request-Origin", "*")
        response = Response("", 200)
        response.headers["WebHook-Allowed-Origin"] = origin
        response.headers["WebHook-Allowed-Rate"] = "*"
        response.headers["Allow"] = "POST, OPTIONS"
        return response

    @bp.post("/api/incoming-call")
    async def incoming_call() -> tuple[Response, int]:
        secret = gw.settings.event_grid_secret
        if secret is not None and not hmac.compare_digest(request.args.get("code", ""), secret.get_secret_value()):
            logger.warning("Event Grid delivery refused: missing or wrong ?code=")
            return jsonify(error="this endpoint needs the subscription's ?code= (EVENT_GRID_SECRET)"), 401
        body = await request.get_json(silent=True)
        if body is None:
            return jsonify(error="the body must be a JSON array of Event Grid events"), 400
        try:
            events = parse_event_grid(body)
        except WireError as exc:
            return jsonify(error=str(exc)), 400
        for event in events:
            if isinstance(event, SubscriptionValidation):
                logger.info("Event Grid subscription validated")
                return jsonify(validationResponse=event.code), 200
        for report in (event for event in events if isinstance(event, SmsDeliveryReport)):
            if not await SmsRecords(gw.store).delivery(report.message_id, report.status.lower(), report.details):
                logger.info("SMS delivery report for a message not of ours ignored")
        answered, busy = [], 0
        for event in events:
            if not isinstance(event, IncomingCall):
                continue
            line = line_for_context(event.incoming_call_context)
            if line is None or not (line.base_url or gw.settings.public_base_url) or gw.realtime is None:
                return jsonify(error="the phone channel is not configured (see voice-gateway doctor)"), 503
            if gw.draining:
                return jsonify(error="draining: not taking new calls"), 503
            if gw.at_media_capacity():
                peer = gw.peer_with_room() if not (answered or busy or gw.forwarder.forwarded_here()) else None
                if peer is not None:  # another worker or replica has room: it answers (and owns) the call
                    logger.info("at capacity (MAX_MEDIA_SESSIONS=%d): the call is handed to %s", gw.settings.max_media_sessions, peer)
                    handed = await gw.forwarder.hand_to(peer, session_id_var.get())
                    if handed is not None:
                        return handed  # type: ignore[return-value]
                await reject_busy(line, event)
                busy += 1
                continue
            call_key = new_call_key()
            await gw.owners.own(call_key)  # before the answer: its first callback may reach another process
            call = line.get_or_create(call_key, event.caller, gw.agent)
            gw.media_starting(call.session_id)
            callback_url, media_url = line.urls(call_key, call.profile.name)
            with session_context(call.session_id):
                try:
                    call.connection_id = await line.control.answer(event.incoming_call_context, callback_url, media_url, call_key)
                except AzureError as exc:
                    line.calls.pop(call_key, None)
                    gw.media_pending.pop(call.session_id, None)
                    logger.error("answering the call failed: %s", exc)
                    return jsonify(error="ACS refused to answer the call", detail=str(exc)[:300]), 502
                logger.info("answered call from %s (connection %s)", event.caller or "unknown", call.connection_id)
            answered.append(call.session_id)
        return jsonify(answered=answered, rejected_busy=busy), 200

    @bp.post("/api/callbacks/<call_key>")
    async def callbacks(call_key: str) -> Response | tuple[Response, int]:
        owners_answer = await gw.forwarder.http(call_key, phone_session_id(call_key))
        if owners_answer is not None:
            return owners_answer
        phone = line_for_key(call_key, request.args.get("token"))
        if phone is None:
            return jsonify(error="the phone channel is not configured"), 503
        if not await authorised(phone, call_key, request.args.get("token"), request.headers.get("Authorization")):
            logger.warning("callback for %s refused: bad token or JWT", call_key[:8])
            return jsonify(error="unauthorised callback"), 401
        body = await request.get_json(silent=True)
        try:
            events = parse_callbacks(body)
        except WireError as exc:
            return jsonify(error=str(exc)), 400
        call = await phone.for_callbacks(call_key, [event.name for event in events], request.args.get("agent"))
        if call is None:
            with session_context(phone_session_id(call_key)):
                logger.info("callback %s for an ended or unknown call ignored", ",".join(e.name for e in events))
            if any(event.name == "CallDisconnected" for event in events):
                with session_context(phone_session_id(call_key)):
                    await phone.ended_elsewhere(call_key)  # a media socket arriving after it must not open a call either
            return jsonify(ok=True, ignored=True), 200
        with session_context(call.session_id):
            for event in events:
                logger.info("callback %s %s", event.name, event.operation_context or "")
                if event.call_connection_id and not call.connection_id:
                    call.connection_id = event.call_connection_id
                if event.name == "CallConnected":
                    gw.hub.publish(call.session_id, CallProgress("in-progress"))
                    if call_key in phone.key_checks:  # an outbound call that asks for a key before the agent speaks
                        gw.spawn(machine_check.ask(phone, call, event.call_connection_id), f"key-check-{call_key}")
                    elif call_key in phone.silence_checks:  # an outbound call that listens before the agent speaks
                        gw.spawn(call.listen_first(event.call_connection_id), f"silence-check-{call_key}")
                    else:
                        gw.spawn(call.on_connected(event.call_connection_id), f"connected-{call_key}")
                elif event.name in ("RecognizeCompleted", "RecognizeFailed") and event.operation_context == HUMAN_CHECK_CONTEXT:
                    keyed = event.name == "RecognizeCompleted"
                    gw.spawn(machine_check.answered(phone, call, keyed), f"key-check-{call_key}")
                elif event.name == "CallTransferAccepted":
                    gw.hub.publish(call.session_id, CallProgress("transferred"))
                elif event.name == "CallTransferFailed":
                    gw.spawn(transfer_failed(call, event.detail or "the operator could not be reached"), f"transfer-{call_key}")
                elif event.name == "CreateCallFailed":  # an outbound call that never connected: busy, no answer…
                    outcome = create_failure_outcome(event.result_code)
                    phone.silence_checks.discard(call_key)
                    gw.hub.publish(call.session_id, CallProgress(outcome, event.detail))
                    gw.spawn(phone.end(call_key, outcome), f"end-{call_key}")
                elif event.name in ("PlayCompleted", "PlayFailed", "PlayCanceled"):
                    ok = event.name == "PlayCompleted"
                    gw.spawn(play_finished(call, event.operation_context, ok), f"play-{call_key}")
                elif event.name.startswith("MediaStreaming"):
                    gw.hub.publish(call.session_id, media_health(event.name, event.detail))
                elif event.name == "CallDisconnected":
                    phone.key_checks.pop(call_key, None)
                    phone.silence_checks.discard(call_key)
                    gw.spawn(phone.end(call_key, call.outcome if call.outcome != "completed" else "caller_hung_up"), f"end-{call_key}")
        return jsonify(ok=True), 200

    @bp.websocket("/ws/acs/<call_key>")
    async def media(call_key: str) -> Response | None:
        relayed = await gw.forwarder.websocket(call_key, phone_session_id(call_key))
        if relayed is not NOT_FORWARDED:
            return relayed  # type: ignore[return-value]
        phone = line_for_key(call_key, websocket.args.get("token"))
        if phone is None:
            return Response("phone channel not configured", 503)
        if not await authorised(phone, call_key, websocket.args.get("token"), websocket.headers.get("Authorization")):
            logger.warning("media socket for %s refused: bad token or JWT", call_key[:8])
            return Response("unauthorised", 401)
        refusal = await phone.media_refusal_everywhere(call_key)
        if refusal is not None:
            logger.warning("media socket for %s refused: %s", call_key[:8], refusal[1])
            return Response(refusal[1], refusal[0])
        call = phone.get_or_create(call_key, agent=websocket.args.get("agent"))
        call.connection_id = call.connection_id or websocket.headers.get("x-ms-call-connection-id", "")
        await websocket.accept()
        with session_context(call.session_id):
            logger.info("media socket connected")
            try:
                adapter = AcsMedia(websocket.send, phone.control.sample_rate)
                if call_key in phone.silence_checks:
                    phone.silence_checks.discard(call_key)
                    if not await machine_check.screen(phone, call, adapter, websocket.receive):
                        return None
                await call.run_media(adapter, websocket.receive)
            except MediaRefused as exc:
                logger.warning("media socket closed: %s", exc.reason)
                await websocket.close(exc.code, exc.reason)
            except asyncio.CancelledError:
                logger.info("media socket closed by ACS")
                raise
            finally:
                if not call.outcome.startswith("provider"):
                    gw.spawn(phone.end(call_key, "media_closed"), f"media-end-{call_key}")
        return None

    @bp.after_app_serving
    async def close_calls() -> None:
        for line in [phone, *emulated]:
            if line is not None:
                await line.end_all("shutdown")

    return bp
