"""Routes every deployment has: health, readiness, public status, the web page, and tool calls for browser sessions."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

from quart import Blueprint, Response, has_request_context, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from .doctor import as_dicts, run_checks
from .events import ToolCallFinished, ToolCallStarted
from .logs import session_context
from .services import Gateway
from .tools import ToolContext
from .tools.handoff_tools import TOO_MANY_ATTEMPTS
from .tools.mcp_source import profile_tool_names
from .tools.registry import ToolOutcome

logger = logging.getLogger(__name__)
WEB_DIR = str(resources.files("web"))


def public_status(gw: Gateway) -> dict[str, Any]:
    """The anonymous ``/api/status`` body; add only what the page needs to work (it is served to anyone)."""
    webrtc = gw.realtime is not None
    cascade = gw.settings.speech_configured and gw.settings.chat_provider is not None
    return {
        "emulated": gw.emulated,  # the offline demo: the page says its agent is not a real model
        "agent": gw.agent,
        "language": gw.profile().language,
        "agents": [{"name": p.name, "title": p.title, "language": p.language} for p in gw.profiles.all()],
        "webrtc": webrtc,
        "cascade": cascade,
        "channels": [name for name, usable in (("webrtc", webrtc), ("websocket", cascade)) if usable],
    }


def private_status(gw: Gateway) -> dict[str, Any]:
    """What the console adds for its token holder: configuration checks, provider, MCP servers."""
    return {
        "checks": as_dicts(run_checks(gw.settings, emulated=gw.emulated)),
        "realtime_provider": gw.settings.realtime_provider,
        "mcp": gw.mcp_status,
    }


def bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return None


def create_core_blueprint(gw: Gateway) -> Blueprint:
    bp = Blueprint("core", __name__)

    @bp.get("/healthz")
    async def healthz() -> Response:
        return jsonify(status="ok")

    @bp.get("/readyz")
    async def readyz() -> tuple[Response, int]:
        mode = {"mode": "offline demo (emulated agent)"} if gw.emulated else {}
        if gw.draining:
            return jsonify(status="draining", **mode), 503
        if not await gw.store.ping():
            return jsonify(status="store unreachable"), 503
        if gw.at_media_capacity():
            return jsonify(status="at capacity", live_sessions=len(gw.hub.live_sessions())), 503
        return jsonify(status="ready", live_sessions=len(gw.hub.live_sessions()), **mode), 200

    @bp.get("/api/status")
    async def status() -> Response:
        """What the page needs, for any visitor: the channels it can use, the agents, the language. Endpoints,
        providers, the ACS audience and the configuration checks are the console's (``/api/console/status``)."""
        return jsonify(public_status(gw))

    @bp.post("/api/tools/<name>")
    async def call_tool(name: str) -> tuple[Response, int]:
        """Runs a tool for a browser session that holds the session's token; the browser never runs tools itself.

        The token opens only its own session, until it expires or the session ends; only the tools of the
        session's profile (403 ``not_allowed``), and at most ``SESSION_TOOL_CALLS`` of them (429)."""
        body = await request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="body must be a JSON object {session_id, arguments, call_id?}"), 400
        session_id = str(body.get("session_id") or "")
        grant = gw.tokens.check(session_id, bearer(request.headers.get("Authorization")))
        if grant is None:
            return jsonify(error="missing, invalid or expired session token", code="bad_token"), 401
        arguments = body.get("arguments", {})
        if not isinstance(arguments, str | dict):
            return jsonify(error="arguments must be a JSON object or a JSON string"), 400
        call_id = str(body.get("call_id") or "")
        profile = gw.profile(grant.agent)
        with session_context(session_id):
            if name not in profile_tool_names(gw.registry, profile.tools, profile.mcp_servers):
                logger.warning("tool %s refused: not a tool of agent %s", name, profile.name)
                return jsonify(error=f"{name} is not a tool of this session's agent", code="not_allowed"), 403
            if not await gw.tool_budget.spend(session_id):
                logger.warning("tool %s refused: the session used its %d tool calls", name, gw.tool_budget.per_session)
                return jsonify(error="this session has used all its tool calls", code="budget_exhausted"), 429
            info = gw.hub.get(session_id)
            ctx = ToolContext(session_id=session_id, store=gw.store, channel=info.channel if info else "browser",
                              caller=info.caller if info else "", readings=gw.readings.current())  # fmt: skip
            outcome = await run_tool(gw, ctx, name, arguments, call_id)
        payload = {"name": name, "call_id": call_id, "ok": outcome.ok, "output": outcome.output}
        if outcome.next_step and outcome.next_step in profile.steps:
            payload["next_step"] = outcome.next_step
            payload["instructions"] = profile.instructions(outcome.next_step)
        error_code = outcome.output.get("error", {}).get("code")
        status_code = {"unknown_tool": 404, TOO_MANY_ATTEMPTS: 429}.get(error_code, 200)
        return jsonify(payload), status_code

    @bp.post("/api/handoff")
    async def handoff() -> tuple[Response, int]:
        """A short code that continues this browser session on another channel (the caller keys it in by phone)."""
        body = await request.get_json(silent=True)
        session_id = str(body.get("session_id") or "") if isinstance(body, dict) else ""
        if gw.tokens.check(session_id, bearer(request.headers.get("Authorization"))) is None:
            return jsonify(error="missing, invalid or expired session token", code="bad_token"), 401
        await gw.writer.flush(timeout=5)  # the transcript so far must be readable by whoever redeems the code
        code = await gw.handoffs.issue(session_id)
        return jsonify(code=code, expires_in_s=15 * 60), 200

    @bp.get("/")
    async def index() -> Response:
        return await send_from_directory(WEB_DIR, "index.html")

    @bp.get("/favicon.ico")
    async def favicon() -> Response:
        """Browsers ask for it on every page (the page and the console): an icon, not a 404 in every log."""
        response = await send_from_directory(WEB_DIR, "favicon.svg", mimetype="image/svg+xml")
        response.cache_control.max_age = 86400
        return response

    @bp.get("/static/<path:path>")
    async def static_files(path: str) -> Response:
        return await send_from_directory(WEB_DIR, path)

    return bp


async def run_tool(gw: Gateway, ctx: ToolContext, name: str, arguments: str | dict[str, Any], call_id: str) -> ToolOutcome:
    """Run a tool for a session the gateway serves, with its start and result on the hub (console, record)."""
    args_text = arguments if isinstance(arguments, str) else _json(arguments)
    gw.hub.publish(ctx.session_id, ToolCallStarted(call_id, name, args_text))
    outcome = await gw.registry.call(name, arguments, ctx)
    gw.hub.publish(ctx.session_id, ToolCallFinished(call_id, name, args_text, outcome.ok, outcome.to_json(), outcome.duration_ms))
    return outcome


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def json_errors(app: object) -> None:
    """Every HTTP error as JSON with its status: a bad request is a 4xx, never a 500 with a stack trace."""

    @app.errorhandler(HTTPException)  # type: ignore[attr-defined]
    async def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.name, detail=exc.description), exc.code or 500

    async def unreadable_json(exc: Exception) -> tuple[Response, int]:
        """``get_json(silent=True)`` still raises on a body that is not UTF-8 or nests too deep: the client's error."""
        if not has_request_context():  # raised in a WebSocket handler: not about a request body
            raise exc
        logger.warning("unreadable request body on %s: %s", request.path, type(exc).__name__)
        return jsonify(error="Bad Request", detail="the body is not JSON the gateway can read"), 400

    app.errorhandler(UnicodeDecodeError)(unreadable_json)  # type: ignore[attr-defined]
    app.errorhandler(RecursionError)(unreadable_json)  # type: ignore[attr-defined]

    @app.errorhandler(Exception)  # type: ignore[attr-defined]
    async def unexpected(exc: Exception) -> tuple[Response, int]:
        logger.exception("unhandled error")
        return jsonify(error="internal error"), 500
