"""``POST /api/calls``: place one outbound call at once (calling hours are for campaigns, not for a call placed by
hand), and ``GET /api/calls/<id>``: its progress and outcome. Both need ``Authorization: Bearer <API_TOKEN>``.

Every check happens before a carrier is asked: a number that is not one gets 400 with the reason, and so do an
unknown agent or carrier and variables of the wrong shape."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint, Response, jsonify, request

from channels.telephony.outbound import CallRequest, Dialer, OutboundCalls

from .api_auth import api_error as error
from .api_auth import api_token_refusal
from .appointments.routes import appointments_of
from .call_variables import InvalidVariables, check_variables
from .phone_numbers import InvalidNumber, to_e164
from .services import Gateway
from .sms import AfterCallSms, SmsSender

logger = logging.getLogger(__name__)
CARRIERS = ("acs", "twilio")


def create_calls_blueprint(gw: Gateway, dialers: dict[str, Dialer], sms: dict[str, SmsSender] | None = None) -> Blueprint:
    bp = Blueprint("calls", __name__)
    outbound = OutboundCalls(gw, dialers, AfterCallSms(gw, sms or {}))
    bp.outbound = outbound  # type: ignore[attr-defined]  # for tests and campaigns

    def refused() -> tuple[Response, int] | None:
        return api_token_refusal(gw)

    def carrier_of(body: dict[str, Any]) -> str:
        carrier = body.get("carrier")
        if carrier is None and len(dialers) == 1:
            return next(iter(dialers))
        if carrier not in CARRIERS:
            raise ValueError(f"carrier must be one of {', '.join(CARRIERS)}")
        return str(carrier)

    @bp.post("/api/calls")
    async def place_call() -> tuple[Response, int]:
        if (refusal := refused()) is not None:
            return refusal
        body = await request.get_json(silent=True)
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object: {\"to\": ..., \"carrier\": ..., \"variables\": {...}}")
        try:
            to = to_e164(body.get("to"))
        except InvalidNumber as exc:
            return error(400, "invalid 'to'", reason=str(exc))
        try:
            carrier = carrier_of(body)
            variables = check_variables(body.get("variables"))
        except (ValueError, InvalidVariables) as exc:
            return error(400, str(exc))
        agent = body.get("agent") or gw.agent
        if not isinstance(agent, str) or agent not in gw.profiles.names():
            return error(400, f"agent {str(agent)[:64]!r} names no profile", agents=gw.profiles.names())
        if (why := outbound.refusal(carrier)) is not None:
            return error(503, why)
        call_id = await outbound.place(CallRequest(to, agent, carrier, variables))
        return jsonify(id=call_id), 202

    @bp.get("/api/calls/<call_id>")
    async def call_record(call_id: str) -> tuple[Response, int]:
        if (refusal := refused()) is not None:
            return refusal
        record = await outbound.records.get(call_id[:64])
        if record is None:
            return error(404, "no such call")
        record["sms"] = await outbound.sms.records.of_conversation(record["id"]) if outbound.sms else []
        conversation = await gw.store.conversation(record["id"])
        record["summary"] = (conversation or {}).get("summary")
        record["appointments"] = await appointments_of(gw, record["id"])
        return jsonify(record), 200

    return bp


def carrier_dialers(gw: Gateway, acs_line: Any, twilio_line: Any) -> tuple[dict[str, Dialer], dict[str, SmsSender]]:
    """The dialers and SMS senders of the carriers whose lines are configured (SMS: with a number to send from)."""
    from channels.acs.outbound import AcsDialer
    from channels.acs.sms import AcsSms
    from channels.twilio.emulated import rest_control
    from channels.twilio.outbound import TwilioDialer
    from channels.twilio.sms import TwilioSms

    settings = gw.settings
    dialers: dict[str, Dialer] = {}
    senders: dict[str, SmsSender] = {}
    if acs_line is not None:
        dialers["acs"] = AcsDialer(acs_line, settings)
        if settings.acs_phone_number:
            senders["acs"] = AcsSms(acs_line.control, settings.acs_phone_number)
    if twilio_line is not None:
        dialers["twilio"] = TwilioDialer(twilio_line, settings)
        if settings.twilio_phone_number:
            senders["twilio"] = TwilioSms(rest_control(twilio_line.control), settings.twilio_phone_number, settings.public_base_url or "")
    return dialers, senders
