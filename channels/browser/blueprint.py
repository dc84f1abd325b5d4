"""The browser WebSocket route ``/ws/browser``: hello, then mic PCM in and agent PCM out (protocol in ``wire``).

The Speech key and the chat key stay here: the page only ever sees its session id and a resume token (an HMAC of
the session id under the gateway secret).
"""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, websocket

from gateway.engines.base import EngineUnavailable
from gateway.engines.cascade import CascadeSession
from gateway.engines.providers import chat_target
from gateway.engines.speech_io import SpeechTarget
from gateway.forwarding import RELAYED, TAKEN_OVER
from gateway.guard import request_client, same_origin
from gateway.logs import session_context
from gateway.profiles import AgentProfile
from gateway.services import Gateway, new_session_id

from . import wire
from .link import Link
from .session import BrowserSession, BrowserSessions, owner_key, speech_locale

logger = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0


def create_browser_blueprint(gw: Gateway, grace_s: float | None = None) -> Blueprint:
    bp = Blueprint("browser", __name__)
    grace_s = gw.settings.browser_resume_grace_s if grace_s is None else grace_s
    sessions = BrowserSessions()
    speech = SpeechTarget.from_settings(gw.settings)
    chat = chat_target(gw.settings)
    if chat is not None:
        _ = chat[0].chat.completions  # the SDK imports this lazily (~0.2 s): not on the first caller's turn
    bp.browser_sessions = sessions  # type: ignore[attr-defined]  # for the console, benchmarks and tests

    async def new_session(link: Link, hello: wire.Hello) -> BrowserSession | None:
        if not await may_start(link):
            return None
        retry = await gw.mint_limiter.hit(request_client(websocket, gw.proxies))
        if retry:
            await refuse(link, "rate_limited", f"Too many conversations; try again in {retry:.0f} s.", wire.POLICY)
            return None
        if hello.agent is not None and hello.agent not in gw.profiles.names():
            await refuse(link, "unknown_agent", f"There is no agent named {hello.agent!r}.", wire.POLICY)
            return None
        caller = request_client(websocket, gw.proxies)  # the address, as the WebRTC channel records it; the channel says "web"
        return await start(link, new_session_id("browser"), gw.profile(hello.agent), hello.lang, caller, None)

    async def take_over(link: Link, hello: wire.Hello, agent: str) -> BrowserSession | None:
        """The conversation's process is gone: it goes on here, its history read back from the store (what the
        page had heard; the reply being spoken when the process died is lost). Same session id, same record."""
        assert hello.session_id is not None
        record = await gw.store.conversation(hello.session_id)
        if record is None or record["ended_at"] or await gw.owners.has_ended(owner_key(hello.session_id)):
            return None
        if not await may_start(link):
            return None
        history = [(t["role"], t["text"]) for t in record["turns"] if t["role"] in ("user", "assistant")]
        logger.info("browser conversation %s taken over with %d turn(s) from the store", hello.session_id, len(history))
        return await start(link, hello.session_id, gw.profile(agent), hello.lang, record["caller"], history)

    async def may_start(link: Link) -> bool:
        if speech is None or chat is None:
            missing = " and ".join(n for n, ok in (("AZURE_SPEECH_KEY + region/host", speech), ("a chat model", chat)) if not ok)
            await refuse(link, "not_configured", f"The WebSocket voice channel is not configured (needs {missing}).", wire.SERVER_ERROR)
            return False
        if gw.draining:
            await refuse(link, "draining", "The gateway is restarting; please try again in a moment.", wire.TRY_LATER)
            return False
        if gw.at_media_capacity():
            logger.warning("at capacity (MAX_MEDIA_SESSIONS=%d): a browser conversation turned away", gw.settings.max_media_sessions)
            await refuse(link, "busy", "All lines are busy; please try again in a moment.", wire.TRY_LATER)
            return False
        return True

    async def start(
        link: Link, session_id: str, profile: AgentProfile, lang: str | None, caller: str, history: list[tuple[str, str]] | None
    ) -> BrowserSession | None:
        assert speech is not None and chat is not None
        language, voice = speech_locale(profile, lang)
        with session_context(session_id):
            setup = gw.agent_setup(session_id, "browser", caller, profile, history)
            engine = CascadeSession(setup, chat, speech, language=language, voice=voice)
            try:
                await engine.start()
            except EngineUnavailable as exc:
                logger.error("no cascade engine for a browser: %s", exc)
                await engine.close()
                await refuse(link, "engine_unavailable", "The voice service cannot be reached right now.", wire.SERVER_ERROR)
                return None
            except asyncio.CancelledError:  # the page left while we were connecting
                gw.spawn(engine.close(), f"cascade-close-{session_id}")
                raise
            session = BrowserSession(gw, session_id, profile, engine, caller, grace_s, sessions.remove)
            sessions.add(session)
            await gw.owners.own(owner_key(session_id))  # its page may come back through another process: it comes here
            session.open()
            logger.info("browser conversation started (agent %s, %s)", profile.name, language)
        return session

    async def refuse(link: Link, code: str, message: str, close_code: int) -> None:
        await link.send(wire.error(code, message))
        await link.close(close_code, code)

    async def read_hello(link: Link) -> tuple[wire.Hello, str] | None:
        """The hello, and the message as it came (handed on as it is when another process carries the session)."""
        try:
            message = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
        except TimeoutError:
            await refuse(link, "no_hello", "The first message must be a hello.", wire.POLICY)
            return None
        try:
            hello = wire.parse_client(message)
        except wire.WireError as exc:
            await refuse(link, exc.code, str(exc), wire.TOO_BIG if isinstance(exc, wire.MessageTooBig) else wire.POLICY)
            return None
        if not isinstance(hello, wire.Hello) or not isinstance(message, str):
            await refuse(link, "no_hello", "The first message must be a hello.", wire.POLICY)
            return None
        return hello, message

    @bp.websocket("/ws/browser")
    async def browser_socket() -> None:
        await websocket.accept()
        link = Link(websocket._get_current_object())  # type: ignore[attr-defined]
        # Browsers always send Origin: another site's page must not run conversations on our account. (Clients
        # without one are not browsers, and could forge it anyway.)
        if websocket.headers.get("Origin") and not same_origin(websocket.headers, websocket.host, gw.settings.public_base_url):
            logger.warning("refused a browser socket from origin %r", websocket.headers.get("Origin"))
            await refuse(link, "forbidden", "This socket serves only the gateway's own page.", wire.POLICY)
            return
        first = await read_hello(link)
        if first is None:
            return
        hello, raw = first
        if hello.resume:
            assert hello.session_id is not None
            grant = gw.tokens.check(hello.session_id, hello.token, ended_ok=True)
            if grant is None:
                await refuse(link, "bad_token", "This session cannot be resumed with that token.", wire.POLICY)
                return
            session = sessions.get(hello.session_id)
            if session is None:  # another process may carry it: the socket goes there, or the conversation comes here
                relayed = await gw.forwarder.accepted_socket(owner_key(hello.session_id), hello.session_id, raw)
                if relayed == RELAYED:
                    return
                if relayed == TAKEN_OVER:
                    session = await take_over(link, hello, grant.agent)
            if session is None or session.ended:
                await refuse(link, "session_gone", "That conversation has ended.", wire.NORMAL)
                return
        else:
            session = await new_session(link, hello)
            if session is None:
                return
        with session_context(session.session_id):
            await session.run_socket(link, websocket.receive, resumed=hello.resume)

    @bp.after_app_serving
    async def close_sessions() -> None:
        await sessions.close_all("shutdown")

    return bp
