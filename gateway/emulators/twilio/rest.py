"""The REST API under ``/2010-04-01/Accounts/{AccountSid}/`` as a Quart app: Calls create / fetch / update and
Messages create, with HTTP Basic auth (AccountSid:AuthToken) and Twilio's JSON error bodies
(twilio.com/docs/voice/api/call-resource, …/messaging/api/message-resource)."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, request

from .records import RecordedRequest, form_to_lists

if TYPE_CHECKING:
    from .emulator import TwilioEmulator

logger = logging.getLogger(__name__)

BASE = "/2010-04-01/Accounts/<account_sid>"
PHONE_NUMBER = re.compile(r"^\+[1-9]\d{6,14}$")


class ApiError(Exception):
    """A Twilio error response: HTTP ``status`` with the legacy JSON body (code, message, more_info, status)."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        resp = Response(json.dumps(body), status=self.status, content_type="application/json")
        if self.status == 401:
            resp.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return resp


def valid_address(value: str) -> bool:
    """E.164, or a ``client:`` / ``sip:`` address, as ``To`` accepts."""
    return bool(PHONE_NUMBER.match(value)) or value.startswith(("client:", "sip:"))


def valid_sms_address(value: str) -> bool:
    """E.164, or a ``whatsapp:`` address, as a message's ``To`` accepts."""
    return bool(PHONE_NUMBER.match(value.removeprefix("whatsapp:")))


def _credentials() -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _check_auth(emulator: TwilioEmulator, account_sid: str) -> None:
    creds = _credentials()
    config = emulator.config
    ok = creds is not None and hmac.compare_digest(creds[0], config.account_sid)
    ok = ok and creds is not None and hmac.compare_digest(creds[1].encode(), config.auth_token.encode())
    if not ok:
        raise ApiError(401, 20003, "Authenticate")
    if account_sid != config.account_sid:
        raise ApiError(404, 20404, f"The requested resource /2010-04-01/Accounts/{account_sid} was not found")


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def create_twilio_app(emulator: TwilioEmulator) -> Quart:
    """The account's API endpoint; serve it with ``serve_app`` and point the ``twilio`` SDK at it."""
    app = Quart(__name__)

    async def handle(account_sid: str, call_sid: str | None, action: Any) -> Response:
        form = await request.form
        params = form_to_lists(form)
        authenticated = False
        error_code = None
        try:
            _check_auth(emulator, account_sid)
            authenticated = True
            resp = await action(params)
        except ApiError as exc:
            error_code = exc.code
            resp = exc.response()
        emulator.record_request(
            RecordedRequest(
                request.method,
                request.path,
                params,
                resp.status_code,
                authenticated,
                time.monotonic(),
                call_sid,
                error_code,
            )
        )
        if error_code is not None:
            logger.info("%s %s -> %d (code %d)", request.method, request.path, resp.status_code, error_code)
        return resp

    @app.post(f"{BASE}/Calls.json")
    async def create_call(account_sid: str) -> Response:
        async def action(params: dict[str, list[str]]) -> Response:
            call = await emulator.create_call(params)
            return _json(call.resource(), 201)

        return await handle(account_sid, None, action)

    @app.get(f"{BASE}/Calls.json")
    async def list_calls(account_sid: str) -> Response:
        async def action(_params: dict[str, list[str]]) -> Response:
            calls = [call.resource() for call in emulator.calls.values()]
            return _json({"calls": calls, "page": 0, "page_size": 50, "next_page_uri": None})

        return await handle(account_sid, None, action)

    @app.route(f"{BASE}/Calls/<call_sid>.json", methods=["GET", "POST"])
    async def call_resource(account_sid: str, call_sid: str) -> Response:
        async def action(params: dict[str, list[str]]) -> Response:
            call = emulator.calls.get(call_sid)
            if call is None:
                path = f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json"
                raise ApiError(404, 20404, f"The requested resource {path} was not found")
            if request.method == "POST":
                await emulator.update_call(call, params)
            return _json(call.resource())

        return await handle(account_sid, call_sid, action)

    @app.post(f"{BASE}/Messages.json")
    async def create_message(account_sid: str) -> Response:
        async def action(params: dict[str, list[str]]) -> Response:
            return _json(emulator.create_message(params), 201)

        return await handle(account_sid, None, action)

    @app.errorhandler(404)
    async def not_found(_error: Exception) -> Response:
        return ApiError(404, 20404, f"The requested resource {request.path} was not found").response()

    @app.errorhandler(405)
    async def method_not_allowed(_error: Exception) -> Response:
        return ApiError(405, 20004, f"Method {request.method} not allowed on {request.path}").response()

    return app
