"""The voice-gateway command line: serve, demo, doctor, simulate-call, bench, readings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from . import event_loop
from .config import Settings, format_errors, share_secret_with_workers
from .event_loop import hypercorn_worker_class
from .logs import configure_logging
from .serving import graceful_timeout

logger = logging.getLogger("gateway.cli")
DESCRIPTION = """\
A voice gateway between callers (phone, browser) and one AI voice agent.

  serve          run the gateway (with no AI provider configured: the offline demo on built-in emulators)
  demo           the offline demo on its own port (8080): every outside service emulated
  doctor         which channels and providers are configured, and what would enable the rest
  simulate-call  place an emulated phone call against a running gateway
  bench          measure concurrent calls, latency and cost per call
  readings       how a text would be read aloud (katakana, --ssml, or --digits for what a caller said)
  campaign       dial a CSV call list through a running gateway (outcomes exported as CSV)
  history        export ended conversations of a running gateway as CSV (a history search)
"""


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for line in format_errors(exc):
            sys.stderr.write(f"configuration error: {line}\n")
        raise SystemExit(2) from None


def _stop_on_fatal_problems(settings: Settings) -> None:
    """Fail fast, one line per problem, before any worker starts: profiles, AGENT, the database (bounded wait)."""
    from .preflight import database_problem, profile_problems
    from .services import build_registry

    problems = [p for p in profile_problems(settings, build_registry(settings).names()) if p.fatal]
    if not problems:  # the database is opened (and set up) only for a gateway that would otherwise start
        database = asyncio.run(database_problem(settings))
        problems += [database] if database is not None else []
    if problems:
        for problem in problems:
            sys.stderr.write(f"configuration error: {problem.line()}\n")
        raise SystemExit(2)


def _hypercorn_config(settings: Settings) -> Any:
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.workers = settings.workers
    config.graceful_timeout = graceful_timeout(settings)
    config.websocket_max_message_size = settings.max_ws_message_bytes
    config.h11_max_incomplete_size = 64 * 1024
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.worker_class = hypercorn_worker_class(settings.event_loop)
    return config


def command_name() -> str:
    """How to type this CLI in a shell: ``voice-gateway`` when it is on PATH, else the path it was started by
    (``./run.sh serve`` runs ``.venv/bin/voice-gateway``, which a fresh shell does not find by name)."""
    started = Path(sys.argv[0])
    if started.name != "voice-gateway" or shutil.which("voice-gateway"):
        return "voice-gateway"
    return str(started)


def _offline_banner(base: str, settings: Settings) -> None:
    token = settings.console_token.get_secret_value() if settings.console_token else ""
    sys.stdout.write(
        f"\nOFFLINE DEMO (no AI provider configured): the agent runs on built-in emulators\n"
        f"  browser page: {base}/\n"
        f"  console:      {base}/console  (token {token})\n"
        f"  phone call:   {command_name()} simulate-call --gateway {base}  (Twilio: add --carrier twilio)\n\n"
    )
    sys.stdout.flush()


async def _serve_single(settings: Settings, offline_mode: bool = False) -> None:
    """One process: on SIGTERM/SIGINT stop taking new calls (readyz 503), let live ones finish, then stop.

    The socket is bound first and the gateway built behind it (``gateway/warmup.py``); ``offline_mode`` builds it
    on the built-in emulators (``gateway/offline.py``)."""
    from .serving import peer_listener, peer_url, serve_app, with_peer
    from .warmup import WarmingFront

    front = WarmingFront()
    failed = asyncio.Event()
    peer = None if offline_mode else peer_listener(settings)
    loop = asyncio.get_running_loop()

    async def build(resources: contextlib.AsyncExitStack) -> Any:
        await asyncio.to_thread(importlib.import_module, "gateway.app")  # seconds of imports, off the event loop
        from .app import create_app

        wired, stack = settings, None
        if offline_mode:
            from .offline import loopback_url, offline_settings

            if not settings.console_token:  # the console is part of the demo: a token for this run, shown only here
                settings.console_token = SecretStr(secrets.token_urlsafe(12))
            base = loopback_url(settings.host, settings.port)
            wired, stack = await resources.enter_async_context(offline_settings(settings, base))
            _offline_banner(base, wired)
        app = create_app(wired, emulated=stack is not None, peer_url=peer_url(peer))
        if stack is not None:
            app.extensions["offline_stack"] = stack
        return app

    def warmed(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("the gateway could not start: %s", task.exception())
            failed.set()

    warming = loop.create_task(front.warm_up(build))
    warming.add_done_callback(warmed)

    def gateway() -> Any:
        return front.app.extensions["gateway"] if front.app is not None else None

    try:
        config = _hypercorn_config(settings)
        await serve_app(front, config, settings, sockets=with_peer(config, None, peer), gateway=gateway, abort=failed)
    finally:
        if not warming.done():
            warming.cancel()
            await asyncio.gather(warming, return_exceptions=True)
            await front.close()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(host=args.host, port=args.port, workers=args.workers)
    configure_logging(settings.log_level, settings.log_format)
    _stop_on_fatal_problems(settings)
    from . import offline

    if offline.wanted(settings):
        if settings.workers > 1:
            logger.warning("offline demo: serving with 1 worker instead of %d (the emulators live in one process)", settings.workers)
        logger.info("serving on http://%s:%d (offline demo)", settings.host, settings.port)
        event_loop.run(_serve_single(settings, offline_mode=True), settings.event_loop)
        return 0
    if settings.workers > 1 and settings.redis_url is None:
        logger.warning(
            "serving with 1 worker instead of %d: without REDIS_URL the workers cannot share a call (its callbacks and "
            "media socket may reach different workers, and each would carry a part of it); set REDIS_URL to run %d",
            settings.workers, settings.workers,
        )  # fmt: skip
        settings = settings.model_copy(update={"workers": 1})
    logger.info("serving on http://%s:%d with %d worker(s)", settings.host, settings.port, settings.workers)
    if settings.workers == 1:
        event_loop.run(_serve_single(settings), settings.event_loop)
        return 0
    from .serving import run_workers

    if settings.database_url.startswith("sqlite"):
        logger.warning(
            "%d workers writing one SQLite file: it works (one writer at a time, the others wait), "
            "but PostgreSQL (DATABASE_URL=postgresql://...) is the store for many writers", settings.workers
        )
    share_secret_with_workers(settings)
    return run_workers(_hypercorn_config(settings), settings)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import render, run_checks

    settings = _settings()
    checks = run_checks(settings)
    sys.stdout.write(render(checks) + "\n")
    return 0 if all(c.ok or c.optional for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-gateway", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (Hypercorn)", description="Run the gateway. With no AI provider configured it runs the offline demo (built-in emulators).")
    serve.add_argument("--host", default=None, help="bind address (HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (PORT, default 8000)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (WORKERS, default 1)")
    serve.set_defaults(func=cmd_serve)
    doctor = sub.add_parser("doctor", help="show which channels and providers are configured", description="Prints one line per channel and provider (never a secret); exit 1 when a needed one is missing.")
    doctor.set_defaults(func=cmd_doctor)
    from .bench.cli import add_bench_parser
    from .campaigns.cli import add_campaign_parser
    from .console.history_cli import add_history_parser
    from .demo import add_demo_parser
    from .readings.cli import add_readings_parser
    from .simulate import add_simulate_parser

    add_simulate_parser(sub)
    add_demo_parser(sub)
    add_bench_parser(sub)
    add_readings_parser(sub)
    add_campaign_parser(sub)
    add_history_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
