"""The Quart app: WebSocket endpoints of OpenAI GA, Azure GA and Azure preview, plus a small status page."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from quart import Quart, Response, websocket

from .handshake import Endpoint, Refusal, negotiate
from .session import RealtimeSession

if TYPE_CHECKING:
    from .emulator import RealtimeEmulator

logger = logging.getLogger(__name__)


def hypercorn_extensions(offered: str) -> list[str]:
    """What Hypercorn negotiated for this socket: it accepts permessage-deflate whenever the client offers it."""
    names = {e.split(";")[0].strip() for e in offered.split(",")}
    return ["permessage-deflate"] if "permessage-deflate" in names else []


def create_realtime_app(emulator: RealtimeEmulator) -> Quart:
    """Build the ASGI app serving ``emulator`` (serve it with ``gateway.emulators.serving.serve_app``)."""
    app = Quart("gateway.emulators.realtime")

    async def serve(endpoint: Endpoint) -> Response | None:
        stats = emulator.stats
        stats.attempts += 1
        status = emulator.faults.refusal()
        if status is not None:
            stats.refused_fault += 1
            logger.info("refusing %s with %s (fault)", endpoint.value, status)
            refusal = Refusal(status, "service_unavailable", "The service is temporarily unavailable.")
            return Response(refusal.body(), status=status, content_type="application/json")
        outcome = negotiate(
            endpoint,
            {k.lower(): v for k, v in websocket.headers.items()},
            websocket.args.to_dict(),
            websocket.requested_subprotocols,
            emulator.config.api_keys,
        )
        if isinstance(outcome, Refusal):
            if outcome.status == 401:
                stats.refused_auth += 1
            else:
                stats.refused_bad_request += 1
            logger.info("refusing %s: %s %s", endpoint.value, outcome.status, outcome.code)
            return Response(outcome.body(), status=outcome.status, content_type="application/json")
        await websocket.accept(subprotocol=outcome.subprotocol)
        ws = websocket._get_current_object()
        session = RealtimeSession(emulator, outcome, ws, dict(websocket.scope))
        session.record.extensions = hypercorn_extensions(websocket.headers.get("sec-websocket-extensions", ""))
        emulator.register(session)
        try:
            await session.run()
        finally:
            emulator.unregister(session)
        return None

    @app.websocket(Endpoint.OPENAI.value)
    async def openai_ga() -> Response | None:
        return await serve(Endpoint.OPENAI)

    @app.websocket(Endpoint.AZURE_GA.value)
    async def azure_ga() -> Response | None:
        return await serve(Endpoint.AZURE_GA)

    @app.websocket(Endpoint.AZURE_PREVIEW.value)
    async def azure_preview() -> Response | None:
        return await serve(Endpoint.AZURE_PREVIEW)

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        s = emulator.stats
        return {"ok": True, "sessions": len(emulator.sessions), "active": s.active, "attempts": s.attempts}

    return app
