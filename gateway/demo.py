"""voice-gateway demo: the whole product offline in one process, for presenters without cloud resources.

Every outside service is an emulator on loopback (ACS, Twilio, Realtime, Azure Speech, chat completions) and the gateway is
wired to them as it would be to the real ones, through the real SDKs. simulate-call or the console can then
place phone calls, and the page works in both browser modes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import sys

logger = logging.getLogger(__name__)
DEMO_PORT = 8080


def add_demo_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="run the gateway with every outside service emulated (offline demo)", description=__doc__)
    demo.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=DEMO_PORT, help=f"port (default {DEMO_PORT}, beside serve's 8000)")
    demo.add_argument("--agent", default=None, help="agent profile for new conversations")
    demo.set_defaults(func=cmd_demo)


async def run_demo(args: argparse.Namespace) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from .app import create_app
    from .config import Settings
    from .offline import demo_stack, loopback_url, offline_values

    async with demo_stack() as stack:
        public = loopback_url(args.host, args.port)
        token = secrets.token_urlsafe(12)
        values = offline_values(stack, public)
        values.update(console_token=token, database_url="sqlite:///./data/demo.db")
        if args.agent:
            values["agent"] = args.agent
        app = create_app(Settings(**values), emulated=True)
        app.extensions["offline_stack"] = stack  # lets the console place emulated calls
        config = Config()
        config.bind = [f"{args.host}:{args.port}"]
        config.accesslog = None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sys.stdout.write(
            f"offline demo on {public}\n"
            f"  browser page: {public}/\n"
            f"  console:      {public}/console  (token {token})\n"
            f"  phone call:   place an emulated call from the console (ACS or Twilio), or: voice-gateway simulate-call --gateway {public}\n"
            f"  Twilio call:  voice-gateway simulate-call --carrier twilio --gateway {public}\n"
            f"  emulators:    {', '.join(f'{k} {v}' for k, v in stack.urls.items())}\n"
        )
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


def cmd_demo(args: argparse.Namespace) -> int:
    from .logs import configure_logging

    configure_logging("INFO")
    asyncio.run(run_demo(args))
    return 0
