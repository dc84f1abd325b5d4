"""The presenter console: its page, its JSON API under /api/console, and its push feed.

Every route, the page and its scripts included, needs the console token: the console shows callers' numbers and
words, and can end their calls.
"""

from __future__ import annotations

import datetime as dt
import logging
from importlib import resources

from quart import Blueprint, Response, jsonify, redirect, request, send_from_directory
from werkzeug.exceptions import NotFound

from ..api import bearer, private_status, public_status
from ..guard import request_client
from ..process_figures import process_figures
from ..services import Gateway
from .auth import COOKIE, COOKIE_MAX_AGE_S, ConsoleAuth
from .emulated import AttachEmulator, EmulatedCallError, EmulatedCalls, loopback_base
from .emulated_twilio import AttachTwilioEmulator, TwilioDemoCalls
from .feed import FeedConfig, FeedRegistry
from .history import EXPORT_LIMIT, QueryError, history_csv, parse_query
from .wire import event_json, session_json

logger = logging.getLogger(__name__)

WEB_DIR = str(resources.files("web") / "console")
PUBLIC = {"console.login", "console.logout"}
# the page draws callers' words: only its own scripts may run, and no other site may frame its End-call button
PAGE_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
LOGIN_CSP = PAGE_CSP + "; style-src 'unsafe-inline'"


def _harden(response: Response, csp: str) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def create_console_blueprint(
    gw: Gateway,
    attach_emulator: AttachEmulator | None = None,
    feed_config: FeedConfig | None = None,
    attach_twilio: AttachTwilioEmulator | None = None,
) -> Blueprint:
    """``attach_emulator`` (ACS) and ``attach_twilio`` come from the phone channels and enable demo calls on each;
    ``feed_config`` tunes the feed."""
    bp = Blueprint("console", __name__)
    token = gw.settings.console_token.get_secret_value() if gw.settings.console_token else None
    auth = ConsoleAuth(token, gw.shared)
    feeds = FeedRegistry(gw.hub, lambda: gw.agent, lambda: gw.draining, feed_config)
    demo_calls = EmulatedCalls(gw, attach_emulator)
    twilio_demo_calls = TwilioDemoCalls(gw, attach_twilio)
    lines: dict[str, EmulatedCalls | TwilioDemoCalls] = {"acs": demo_calls, "twilio": twilio_demo_calls}
    bp.auth = auth  # type: ignore[attr-defined]  # for tests and the benchmark
    bp.feeds = feeds  # type: ignore[attr-defined]
    bp.demo_calls = demo_calls  # type: ignore[attr-defined]
    bp.twilio_demo_calls = twilio_demo_calls  # type: ignore[attr-defined]

    @bp.before_request
    async def require_token() -> Response | None:
        if request.endpoint in PUBLIC and auth.enabled:
            return None
        refusal = await auth.check(bearer(request.headers.get("Authorization")), request.cookies.get(COOKIE), request_client(request, gw.proxies))
        if refusal is None:
            return None
        if request.path == "/console" and refusal.status in (401, 403):
            response = _harden(await send_from_directory(WEB_DIR, "login.html"), LOGIN_CSP)
            response.status_code = refusal.status
        else:
            response = jsonify(error=refusal.error, detail=refusal.detail)
            response.status_code = refusal.status
        if refusal.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="console"'
        response.headers["Cache-Control"] = "no-store"
        return response

    # --- page ---------------------------------------------------------------------------------------------------
    @bp.get("/console")
    async def page() -> Response:
        return _harden(await send_from_directory(WEB_DIR, "index.html"), PAGE_CSP)

    @bp.get("/console/assets/<path:name>")
    async def assets(name: str) -> Response:
        if name.endswith(".html"):
            raise NotFound()
        return await send_from_directory(WEB_DIR, name)

    @bp.post("/api/console/login")
    async def login() -> Response | tuple[Response, int]:
        """Exchanges the token (JSON ``{token}`` or a form field) for the HttpOnly cookie the page runs on."""
        client = request_client(request, gw.proxies)
        form = await request.form
        body = await request.get_json(silent=True)
        candidate = form.get("token") or (body.get("token") if isinstance(body, dict) else None)
        if await auth.throttle.blocked(client):
            return jsonify(error="too many attempts", detail="wait a minute"), 429
        if not isinstance(candidate, str) or not auth.matches(candidate):
            await auth.throttle.failed(client)
            logger.warning("console login refused from %s", client)
            return jsonify(error="forbidden", detail="the console token is wrong"), 403
        response: Response = redirect("/console", 303) if form else jsonify(ok=True)  # type: ignore[assignment]
        response.set_cookie(
            COOKIE,
            auth.cookie_value,
            max_age=COOKIE_MAX_AGE_S,
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
            path="/",
        )
        logger.info("console login from %s", client)
        return response

    @bp.post("/api/console/logout")
    async def logout() -> Response:
        response = jsonify(ok=True)
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
        return response

    # --- live -----------------------------------------------------------------------------------------------------
    @bp.get("/api/console/sessions")
    async def sessions() -> Response:
        """Every process's live sessions (with ``REDIS_URL``; else this process's)."""
        return jsonify(sessions=[session_json(s, gw.hub) for s in gw.hub.all_sessions()], agent=gw.agent)

    @bp.get("/api/console/sessions/<session_id>")
    async def session_detail(session_id: str) -> tuple[Response, int]:
        info = gw.hub.find(session_id)
        if info is None:
            return jsonify(error="not live", detail="this session has ended; see /api/console/conversations"), 404
        events = [event_json(session_id, e) for e in gw.hub.history(session_id)]
        return jsonify(session=session_json(info), events=events), 200

    @bp.post("/api/console/sessions/<session_id>/end")
    async def end_session(session_id: str) -> tuple[Response, int]:
        if gw.hub.get(session_id) is None:
            if gw.mirror is not None and await gw.mirror.end_remote(session_id):
                logger.info("console asks the process carrying session %s to end it", session_id)
                return jsonify(ended=session_id, elsewhere=True), 202
            return jsonify(error="not live", detail=f"no live session {session_id}"), 404
        logger.info("console ends session %s", session_id)
        if not await gw.hub.end(session_id):
            return jsonify(error="cannot end", detail="this channel cannot end its sessions from the console"), 409
        return jsonify(ended=session_id), 200

    @bp.get("/api/console/events")
    async def events() -> Response | tuple[Response, int]:
        if gw.draining:
            return jsonify(error="draining", detail="the gateway is shutting down"), 503
        feed = feeds.open()
        response = Response(feeds.stream(feed), mimetype="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"  # proxies must not hold events back
        response.timeout = None  # type: ignore[assignment]  # a feed lives as long as the page
        return response

    # --- history --------------------------------------------------------------------------------------------------
    @bp.get("/api/console/conversations")
    async def conversations() -> tuple[Response, int]:
        try:
            query = parse_query(request.args)
        except QueryError as exc:
            return jsonify(error="bad query", detail=str(exc)), 400
        found = await gw.store.search_conversations(**query.store_kwargs())
        return jsonify(conversations=found), 200

    @bp.get("/api/console/conversations.csv")
    async def conversations_csv() -> Response | tuple[Response, int]:
        """The same search as the history view, as a file (up to EXPORT_LIMIT conversations, newest first)."""
        try:
            query = parse_query(request.args, default_limit=EXPORT_LIMIT, max_limit=EXPORT_LIMIT)
        except QueryError as exc:
            return jsonify(error="bad query", detail=str(exc)), 400
        found = await gw.store.search_conversations(**query.store_kwargs())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
        return Response(
            history_csv(found),
            mimetype="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="history-{stamp}.csv"', "Cache-Control": "no-store"},
        )

    @bp.get("/api/console/conversations/<conversation_id>")
    async def conversation(conversation_id: str) -> tuple[Response, int]:
        found = await gw.store.conversation(conversation_id)
        if found is None:
            return jsonify(error="not found", detail=f"no conversation {conversation_id}"), 404
        return jsonify(found), 200

    # --- controls and status --------------------------------------------------------------------------------------
    @bp.post("/api/console/agent")
    async def set_agent() -> tuple[Response, int]:
        body = await request.get_json(silent=True)
        name = body.get("agent") if isinstance(body, dict) else None
        if not isinstance(name, str) or name not in gw.profiles.names():
            return jsonify(error="unknown agent", detail=f"choose one of {', '.join(gw.profiles.names())}"), 400
        gw.agent = name
        logger.info("console: new sessions will use agent %s", name)
        feeds.notice_all("agent", {"agent": name})
        return jsonify(agent=name), 200

    @bp.post("/api/console/emulated-call")
    async def emulated_call() -> tuple[Response, int]:
        body = await request.get_json(silent=True)
        carrier = str(body.get("carrier") or "acs") if isinstance(body, dict) else "acs"
        line = lines.get(carrier)
        if line is None:
            return jsonify(error="demo call failed", detail=f"unknown carrier {carrier[:20]!r} (acs, twilio)"), 400
        try:
            placed = await line.place(loopback_base(request.scope))
        except EmulatedCallError as exc:
            return jsonify(error="demo call failed", detail=str(exc)), exc.status
        return jsonify(session_id=placed.session_id, caller=placed.caller, call_connection_id=placed.call_connection_id), 201

    @bp.get("/api/console/status")
    async def status() -> Response:
        return jsonify(
            {
                **public_status(gw),
                **private_status(gw),
                "agents": [p.summary() for p in gw.profiles.all()],
                "live_sessions": len(gw.hub.live_sessions()),
                "live_sessions_all_processes": len(gw.hub.all_sessions()),
                "shared_state": "redis" if gw.shared.distributed else "this process",
                "console_feeds": len(feeds),
                "store_backlog": gw.writer.backlog,
                "emulated_calls": demo_call_status(lines),
                "draining": gw.draining,
                "process": process_figures(),
            }
        )

    @bp.after_app_serving
    async def stop_console() -> None:
        feeds.end_all()
        await demo_calls.close()
        await twilio_demo_calls.close()

    return bp


def demo_call_status(lines: dict[str, EmulatedCalls | TwilioDemoCalls]) -> dict[str, object]:
    """Whether demo calls can be placed, per carrier; ``available``/``reason`` sum them up for the button."""
    reasons = {carrier: line.unavailable() for carrier, line in lines.items()}
    carriers = {carrier: {"available": reason is None, "reason": reason} for carrier, reason in reasons.items()}
    available = any(reason is None for reason in reasons.values())
    return {"available": available, "reason": None if available else reasons["acs"], "carriers": carriers}
