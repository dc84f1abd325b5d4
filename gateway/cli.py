"""The ``voice-gateway`` command: serve, doctor, simulate-call, bench."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from pydantic import ValidationError

from . import event_loop
from .config import Settings, format_errors, share_secret_with_workers
from .event_loop import hypercorn_worker_class
from .logs import configure_logging
from .serving import graceful_timeout

logger = logging.getLogger("gateway.cli")


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


async def _serve_single(settings: Settings) -> None:
    """One process: on SIGTERM/SIGINT stop taking new calls (readyz 503), let live ones finish, then stop."""
    from .app import create_app
    from .serving import serve_app

    await serve_app(create_app(settings), _hypercorn_config(settings), settings)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(host=args.host, port=args.port, workers=args.workers)
    configure_logging(settings.log_level, settings.log_format)
    _stop_on_fatal_problems(settings)
    logger.info("serving on http://%s:%d with %d worker(s)", settings.host, settings.port, settings.workers)
    if settings.workers == 1:
        event_loop.run(_serve_single(settings), settings.event_loop)
        return 0
    from .serving import run_workers

    share_secret_with_workers(settings)
    return run_workers(_hypercorn_config(settings), settings)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import render, run_checks

    settings = _settings()
    checks = run_checks(settings)
    sys.stdout.write(render(checks) + "\n")
    return 0 if all(c.ok or c.optional for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (Hypercorn)")
    serve.add_argument("--host", default=None, help="bind address (HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (PORT, default 8000)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (WORKERS, default 1)")
    serve.set_defaults(func=cmd_serve)
    doctor = sub.add_parser("doctor", help="show which channels and providers are configured")
    doctor.set_defaults(func=cmd_doctor)
    from .bench.cli import add_bench_parser
    from .demo import add_demo_parser
    from .simulate import add_simulate_parser

    add_simulate_parser(sub)
    add_demo_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
