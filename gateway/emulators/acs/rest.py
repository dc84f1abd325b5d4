"""The Call Automation REST surface as a Quart app: routing of ``…/callConnections/{id}:op`` paths, the
``api-version`` and HMAC checks, request recording, and the public JWKS / OpenID endpoints.

Quart's router cannot split ``{id}:play``, so one catch-all route parses the raw path itself; the raw (still
percent-encoded) path is also what the SDK signed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote

from quart import Quart, Response, request

from . import operations
from .hmac_auth import verify_request
from .models import CallState, RecordedRequest
from .operations import OpResult, error
from .sms import send_sms

if TYPE_CHECKING:
    from .emulator import AcsEmulator

logger = logging.getLogger(__name__)

CALLS_PREFIX = "/calling/callConnections"


@dataclass(slots=True, frozen=True)
class Route:
    """``operation`` is the part after ``:`` (``answer``, ``play``) or a name for plain paths (``get``, ``hangUp``)."""

    operation: str
    call_connection_id: str | None = None


def parse_route(method: str, path: str) -> Route | None:
    if not path.startswith(CALLS_PREFIX):
        return None
    rest = path[len(CALLS_PREFIX) :]
    if rest == "":
        return Route("create") if method == "POST" else None
    if rest.startswith(":"):
        return Route(rest[1:])
    if not rest.startswith("/") or len(rest) < 2:
        return None
    head, _, sub = rest[1:].partition("/")
    call_id, _, op = head.partition(":")
    call_id = unquote(call_id)
    if sub:
        return Route(sub, call_id) if sub.startswith("participants") else None
    if op:
        return Route(op, call_id)
    if method == "GET":
        return Route("get", call_id)
    if method == "DELETE":
        return Route("hangUp", call_id)
    return None


def _json_response(result: OpResult) -> Response:
    if result.body is None:
        return Response(b"", status=result.status)
    return Response(json.dumps(result.body), status=result.status, content_type="application/json")


def create_acs_app(emulator: AcsEmulator) -> Quart:
    """The ACS resource's HTTP endpoint; serve it with ``serve_app`` and point ``CallAutomationClient`` at it."""
    app = Quart(__name__)

    @app.get("/calling/keys")
    async def jwks() -> Any:
        return emulator.issuer.jwks()

    @app.get("/calling/.well-known/acsopenidconfiguration")
    async def openid_configuration() -> Any:
        return emulator.issuer.openid_configuration(request.host_url)

    @app.post("/sms")
    async def sms() -> Response:
        return await send_sms(emulator)

    @app.route("/calling/<path:_rest>", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    async def call_automation(_rest: str) -> Response:
        return _json_response(await _handle(emulator))

    @app.after_serving
    async def stop_emulator() -> None:
        await emulator.stop()

    return app


async def _handle(emulator: AcsEmulator) -> OpResult:
    raw_path_bytes = request.scope.get("raw_path")
    raw_path = raw_path_bytes.decode("latin-1") if raw_path_bytes else quote(request.path, safe="/:")
    raw_path = raw_path.partition("?")[0]
    query = request.query_string.decode("latin-1")
    path_and_query = raw_path + ("?" + query if query else "")
    body_bytes = await request.get_data(cache=True, as_text=False)
    try:
        body = json.loads(body_bytes) if body_bytes else {}
    except ValueError:
        body = None
    route = parse_route(request.method, unquote(raw_path))
    record = RecordedRequest(
        method=request.method,
        path=raw_path,
        operation=route.operation if route else "unknown",
        call_connection_id=route.call_connection_id if route else None,
        query=dict(parse_qsl(query)),
        body=body,
        time=time.monotonic(),
        headers={k.lower(): v for k, v in request.headers.items()},
    )
    result = await _dispatch(emulator, route, record, body_bytes, path_and_query)
    record.status = result.status
    emulator.record_request(record)
    logger.debug("%s %s -> %s", request.method, path_and_query, result.status)
    return result


async def _dispatch(
    emulator: AcsEmulator, route: Route | None, record: RecordedRequest, body_bytes: bytes, path_and_query: str
) -> OpResult:
    if "api-version" not in record.query:
        return error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
    auth = verify_request(
        emulator.config.access_key,
        record.method,
        path_and_query,
        request.headers,
        body_bytes,
        max_skew_s=emulator.config.max_clock_skew_s,
    )
    if not auth.ok:
        logger.info("rejected %s %s: %s", record.method, path_and_query, auth.reason)
        return error(401, "Unauthorized", f"Denied by HMAC authentication: {auth.reason}.")
    if route is None:
        return error(404, "NotFound", f"No such Call Automation route: {record.method} {record.path}.")
    if not isinstance(record.body, dict):
        return error(400, "BadRequest", "The request body must be a JSON object.")
    injected = emulator.take_injected_failure(route.operation)
    if injected is not None:
        return injected
    if route.call_connection_id is None:
        if route.operation == "answer":
            result = await operations.answer(emulator, record.body)
        elif route.operation == "reject":
            result = await operations.reject(emulator, record.body)
        elif route.operation == "create":
            result = await operations.create_call(emulator, record.body)
        else:
            return _unsupported(record)
        if isinstance(result.body, dict) and "callConnectionId" in result.body:
            record.call_connection_id = result.body["callConnectionId"]
            emulator.calls[record.call_connection_id].requests.append(record)
        return result
    call = emulator.calls.get(route.call_connection_id)
    if call is None or call.state in (CallState.DISCONNECTING, CallState.DISCONNECTED):
        return error(404, "8522", "Call not found.")
    call.requests.append(record)
    op = operations.CALL_OPS.get((record.method, route.operation))
    if op is None:
        return _unsupported(record)
    return await op(emulator, call, record.body)


def _unsupported(record: RecordedRequest) -> OpResult:
    logger.warning("emulator does not implement %s %s", record.method, record.path)
    return error(501, "NotImplemented", f"The ACS emulator does not implement {record.operation}.")
