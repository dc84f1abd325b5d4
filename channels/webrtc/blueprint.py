"""Routes of the browser WebRTC channel: minting a session for the page, relaying its SDP offer, its reports.

``POST /api/realtime/session`` mints the session (an ephemeral key bound to the agent's instructions and tools)
and gives the page a gateway session id and token. ``POST /api/realtime/calls?session_id=`` takes the page's SDP
offer, dials the provider with that session's key and returns the answer: so the gateway learns the provider's
call id itself and attaches its control socket (``sideband.py``), which runs the tools, the steps and the record.
``POST /api/realtime/events`` carries what only the page knows (connection health, latency, barge-in, the end);
a transcript the page reports is not recorded: the record is what the gateway saw on its own socket.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from quart import Blueprint, Response, jsonify, request

from gateway.api import bearer
from gateway.events import Health, TranscriptDelta, TranscriptFinal
from gateway.guard import request_client, same_origin
from gateway.logs import session_context
from gateway.services import Gateway, new_session_id
from gateway.tools.mcp_source import native_mcp_tools, profile_tool_names

from .mint import MintError, greeting_directive, mint_key, webrtc_session
from .relay import RelayError, dial
from .sessions import CHANNEL, BrowserSessions
from .sideband import Sideband
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
        retry = await gw.mint_limiter.hit(client)
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
            sessions.open(session_id, profile.name, caller=client, key=key)
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

    @bp.post("/api/realtime/calls")
    async def relay_offer() -> Response | tuple[Response, int]:
        """The page's SDP offer, dialled to the provider with its session's key; the answer goes back."""
        session_id = request.args.get("session_id", "")
        if gw.tokens.check(session_id, bearer(request.headers.get("Authorization"))) is None:
            return _refuse(401, "bad_token", "Missing or invalid session token.")
        session = sessions.live.get(session_id)
        target = gw.realtime
        if session is None or target is None:
            return _refuse(404, "unknown_session", "This session is not live on this gateway; start a new one.")
        if session.key is None:
            return _refuse(409, "already_dialled", "This session has already dialled its call.")
        offer = await request.get_data(as_text=True)
        if (request.mimetype or "") != "application/sdp" or not offer.startswith("v=0"):
            return _refuse(400, "bad_offer", "The body must be an SDP offer (Content-Type: application/sdp).")
        key, session.key = session.key, None  # single use
        with session_context(session_id):
            try:
                answer = await dial(key, offer)
            except RelayError as exc:
                return _refuse(exc.status, "provider_error", exc.message)
            profile = gw.profile(session.agent)
            session.call_id = answer.call_id
            session.sideband = Sideband(gw, target, session_id, profile, answer.call_id, session.caller,
                                        on_end=lambda outcome: sessions.close(session_id, outcome))  # fmt: skip
            session.sideband_task = gw.spawn(session.sideband.run(), f"sideband-{session_id}")
        return Response(answer.sdp, status=201, content_type="application/sdp", headers={"Cache-Control": "no-store"})

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
            sessions.seen(session_id)
            live = sessions.live.get(session_id)
            for event in parsed.hub_events:
                if isinstance(event, TranscriptFinal | TranscriptDelta):
                    continue  # the page's word is not the record: the sideband's transcripts are
                if isinstance(event, Health) and event.status == "connected" and live and live.sideband:
                    live.sideband.page_ready.set()
                gw.hub.publish(session_id, event)
            if parsed.end is not None:
                sessions.close(session_id, parsed.end)
        return jsonify(ok=True), 200

    return bp
