"""voice-gateway demo: the whole product offline in one process, for presenters without cloud resources.

Every outside service is an emulator on loopback (ACS, Twilio, Realtime, Azure Speech, chat completions) and the gateway is
wired to them as it would be to the real ones, through the real SDKs. simulate-call or the console can then
place phone calls, and the page works in both browser modes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    demo.add_argument(
        "--call", metavar="NUMBER", default=None,
        help="also place an outbound call to NUMBER (an emulated prospect) with the meeting-booking profile",
    )
    demo.add_argument("--carrier", choices=("acs", "twilio"), default="twilio", help="--call: the carrier that dials (default twilio)")
    demo.set_defaults(func=cmd_demo)


async def run_demo(args: argparse.Namespace) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from .app import create_app
    from .config import Settings
    from .offline import demo_stack, loopback_url, offline_values

    async with demo_stack() as stack, contextlib.AsyncExitStack() as extras:
        public = loopback_url(args.host, args.port)
        token = secrets.token_urlsafe(12)
        values = offline_values(stack, public)
        values.update(console_token=token, database_url="sqlite:///./data/demo.db")
        if args.agent:
            values["agent"] = args.agent
        carrier = None
        if args.call:
            from .demo_outbound import CALLER_ID, emulated_carrier

            carrier = await extras.enter_async_context(emulated_carrier(args.carrier))
            values.update(api_token=token, acs_phone_number=CALLER_ID)
        app = create_app(Settings(**values), emulated=True)
        app.extensions["offline_stack"] = stack  # lets the console place emulated calls
        config = Config()
        config.bind = [f"{args.host}:{args.port}"]
        config.accesslog = None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from .cli import command_name

        cmd = command_name()
        sys.stdout.write(
            f"offline demo on {public}\n"
            f"  browser page: {public}/\n"
            f"  console:      {public}/console  (token {token})\n"
            f"  phone call:   place an emulated call from the console (ACS or Twilio), or: {cmd} simulate-call --gateway {public}\n"
            f"  Twilio call:  {cmd} simulate-call --carrier twilio --gateway {public}\n"
            f"  emulators:    {', '.join(f'{k} {v}' for k, v in stack.urls.items())}\n"
        )
        if carrier is not None:
            sys.stdout.write(f"  calls API:    {public}/api/calls  (bearer token {token}); dialling {args.call} on {args.carrier}\n")
            placing = asyncio.create_task(_demo_call(public, token, args, carrier, app.extensions["gateway"]))
        await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
        if carrier is not None:
            placing.cancel()


async def _demo_call(public: str, token: str, args: argparse.Namespace, carrier: object, gw: object) -> None:
    """Once the gateway is ready: the outbound call of ``--call``, printed as it goes."""
    import aiohttp

    from .demo_outbound import place_demo_call

    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{public}/readyz") as r:
                    if r.status == 200:
                        break
            await asyncio.sleep(0.1)
    try:
        await place_demo_call(public, token, args.call, args.carrier, carrier, gw, sys.stdout)
    except Exception:  # the demo goes on serving the page and the console
        logger.exception("the demo's outbound call failed")


def cmd_demo(args: argparse.Namespace) -> int:
    from .logs import configure_logging

    configure_logging("INFO")
    asyncio.run(run_demo(args))
    return 0
