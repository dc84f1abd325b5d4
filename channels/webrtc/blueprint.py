"""Routes of the browser WebRTC channel: minting a session for the page, and the page's reports about it.

``POST /api/realtime/session`` gives the page what it needs to call the provider itself (an ephemeral key, the
WebRTC URL) plus a gateway session id and token; ``POST /api/realtime/events`` is how transcripts and the end of
the call reach the hub, so the store and the console see browser sessions like phone calls. Tool calls use the
core ``POST /api/tools/<name>`` with the same token.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from quart import Blueprint, Response, jsonify, request

from gateway.api import bearer
from gateway.guard import RateLimiter, request_client, same_origin
from gateway.logs import session_context
from gateway.services import Gateway, new_session_id
from gateway.tools.mcp_source import native_mcp_tools, profile_tool_names

from .mint import MintError, greeting_directive, mint_key, webrtc_session
from .sessions import CHANNEL, BrowserSessions
from .wire import WireError, parse_batch

logger = logging.getLogger(__name__)

MAX_EVENTS_BODY = 32 * 1024
HEARTBEAT_S = 15


def _refuse(status: int, code: str, message: str, **headers: str) -> tuple[Response, int]:
    response = jsonify(error=message, code=code)
    response.headers.update(headers)
    return response, status


def create_webrtc_blueprint(gw: Gateway) -> Blueprint:
    bp = Blueprint("webrtc", __name__)
    settings = gw.settings
    limiter = RateLimiter(settings.mint_rate_per_minute)
    sessions = BrowserSessions(gw, idle_s=HEARTBEAT_S * 4)
    bp.browser_sessions = sessions  # type: ignore[attr-defined]  # for the console and tests

    @bp.before_app_serving
    async def start_reaper() -> None:
        gw.spawn(sessions.reap_forever(), "webrtc-reaper")

    def tools_for(profile_tools: tuple[str, ...], mcp_labels: tuple[str, ...]) -> list[dict[str, Any]]:
        names = profile_tool_names(gw.registry, profile_tools, mcp_labels)
        return gw.registry.realtime_schemas(names) + native_mcp_tools(settings.mcp_servers, mcp_labels)

    @bp.post("/api/realtime/session")
    async def create_session() -> tuple[Response, int]:
        """Mint a key for the page. Same-origin only, rate-limited per client address, short-lived."""
        if not same_origin(request.headers, request.host, settings.public_base_url):
            logger.warning("refused a key for a cross-origin request (origin %r)", request.headers.get("Origin"))
            return _refuse(403, "cross_origin", "This endpoint serves only the gateway's own page.")
        client = request_client(request, gw.proxies)
        retry = limiter.hit(client)
        if retry:
            return _refuse(
                429, "rate_limited", "Too many sessions; try again shortly.", **{"Retry-After": str(math.ceil(retry))}
            )
        target = gw.realtime
        if target is None:
            return _refuse(503, "provider_not_configured", "No Realtime provider is configured for WebRTC.")
        if gw.draining:
            return _refuse(503, "draining", "The gateway is restarting; try again shortly.")
        body = await request.get_json(silent=True)
        agent = body.get("agent") if isinstance(body, dict) else None
        if agent is not None and (not isinstance(agent, str) or agent not in gw.profiles.names()):
            return _refuse(400, "unknown_agent", "There is no agent profile with that name.")
        profile = gw.profile(agent)
        session = webrtc_session(
            profile,
            profile.instructions(),
            tools_for(profile.tools, profile.mcp_servers),
            model=target.model,
            voice=profile.voice or settings.openai_voice,
            transcription_model=settings.realtime_transcription_model,
            beta=target.beta,
        )
        try:
            key = await mint_key(target, session, settings.ephemeral_key_ttl_s)
        except MintError as exc:
            return _refuse(exc.status, "provider_error", exc.message)
        session_id = new_session_id(CHANNEL)
        with session_context(session_id):
            sessions.open(session_id, profile.name, caller=client)
            logger.info("webrtc session for agent %s, key valid until %s", profile.name, key.expires_at)
        response = jsonify(
            session_id=session_id,
            token=gw.tokens.mint(session_id, profile.name),
            client_secret=key.value,
            expires_at=key.expires_at,
            webrtc_url=key.webrtc_url,
            model=key.model,
            dialect=key.dialect,
            agent=profile.name,
            agent_title=profile.title,
            language=profile.language,
            greeting=greeting_directive(profile),
            heartbeat_s=HEARTBEAT_S,
        )
        response.headers["Cache-Control"] = "no-store"
        return response, 200

    @bp.post("/api/realtime/events")
    async def report() -> tuple[Response, int]:
        """The page's reports on its session: transcripts, barge-ins, latencies, errors, heartbeats, the end."""
        if (request.content_length or 0) > MAX_EVENTS_BODY:
            return _refuse(413, "too_large", f"At most {MAX_EVENTS_BODY} bytes per report.")
        raw = await request.get_data(cache=False)
        if len(raw) > MAX_EVENTS_BODY:
            return _refuse(413, "too_large", f"At most {MAX_EVENTS_BODY} bytes per report.")
        try:
            parsed = parse_batch(raw)
        except WireError as exc:
            return _refuse(400, "bad_events", str(exc))
        session_id = parsed.session_id
        token = bearer(request.headers.get("Authorization")) or parsed.token
        if gw.tokens.check(session_id, token, ended_ok=True) is None:
            return _refuse(401, "bad_token", "Missing or invalid session token.")
        outcome = sessions.ended(session_id)
        if outcome is not None:
            return _refuse(410, "ended", f"This session has ended ({outcome}).")
        with session_context(session_id):
            sessions.seen(session_id, parsed.call_id)
            for event in parsed.hub_events:
                gw.hub.publish(session_id, event)
            if parsed.end is not None:
                sessions.close(session_id, parsed.end)
        return jsonify(ok=True), 200

    return bp
