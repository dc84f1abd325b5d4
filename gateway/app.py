"""The composition root: builds the gateway's services and mounts every channel on one Quart app."""

from __future__ import annotations

import logging

from quart import Quart

from .api import create_core_blueprint, json_errors
from .config import Settings
from .doctor import render, run_checks
from .media_socket import MediaSocketConnection
from .offline import OFFLINE_NOTICE
from .services import Gateway
from .warmup import warm_first_call

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, emulated: bool = False, peer_url: str | None = None) -> Quart:
    """``emulated``: the providers in ``settings`` are the built-in emulators (offline mode), said everywhere.
    ``peer_url``: where other gateway processes reach this one (``serving.peer_listener``), to hand it its calls."""
    settings = settings or Settings()
    gw = Gateway.build(settings)
    gw.emulated = emulated
    gw.owners.peer_url = peer_url
    app = Quart(__name__, static_folder=None)
    app.asgi_websocket_class = MediaSocketConnection  # the carriers' media sockets without Quart's per-frame costs
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["gateway"] = gw
    app.register_blueprint(create_core_blueprint(gw))

    from channels.acs.blueprint import create_acs_blueprint
    from channels.browser.blueprint import create_browser_blueprint
    from channels.twilio.blueprint import create_twilio_blueprint
    from channels.webrtc import create_webrtc_blueprint

    from .appointments.routes import create_appointments_blueprint
    from .calls_api import carrier_dialers, create_calls_blueprint
    from .campaigns.api import create_campaigns_blueprint
    from .console import create_console_blueprint

    acs = create_acs_blueprint(gw)
    app.register_blueprint(acs)
    twilio = create_twilio_blueprint(gw)
    app.register_blueprint(twilio)
    app.register_blueprint(create_webrtc_blueprint(gw))
    app.register_blueprint(create_browser_blueprint(gw))
    console = create_console_blueprint(gw, attach_emulator=acs.attach_emulator, attach_twilio=twilio.attach_emulator)  # type: ignore[attr-defined]
    app.register_blueprint(console)
    calls = create_calls_blueprint(gw, *carrier_dialers(gw, acs.phone_calls, twilio.twilio_calls))  # type: ignore[attr-defined]
    app.register_blueprint(calls)
    campaigns = create_campaigns_blueprint(gw, calls.outbound, console.auth)  # type: ignore[attr-defined]  # one console login, one throttle
    app.register_blueprint(campaigns)
    app.register_blueprint(create_appointments_blueprint(gw))
    json_errors(app)

    carrier_controls = [line.control for line in (acs.phone_calls, twilio.twilio_calls) if line is not None]  # type: ignore[attr-defined]

    @app.before_serving
    async def startup() -> None:
        await gw.start()
        await warm_first_call(app, gw, carrier_controls)
        gw.spawn(campaigns.campaigns.watch(), "campaigns")  # type: ignore[attr-defined]  # a restart resumes unfinished campaigns
        checks = run_checks(settings, emulated=emulated)
        for notice in (c for c in checks if c.notice):
            logger.warning("%s", render([notice]))
        disabled = [c for c in checks if not c.ok and not c.optional and not c.notice]
        if disabled:
            logger.warning("some channels are disabled:\n%s", render(disabled))
        if emulated:
            logger.warning("%s", OFFLINE_NOTICE)
        logger.info("voice gateway ready (agent %s%s)", gw.agent, ", OFFLINE DEMO: emulated agent" if emulated else "")

    @app.after_serving
    async def shutdown() -> None:
        gw.draining = True
        await gw.stop()

    return app
