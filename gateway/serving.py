"""Serving with a drain, the same for one worker or many.

On SIGTERM/SIGINT every worker process stops taking new calls (``/readyz`` 503, new calls refused) while it keeps
listening, lets its live calls finish until ``DRAIN_TIMEOUT_S``, hangs up those still going at the deadline, and only
then lets Hypercorn close its sockets. Hypercorn's own ``graceful_timeout`` (3 s by default, after which it cuts
connections) therefore starts after the drain and only has to cover the closing of ended calls' sockets.

With ``--workers N`` a small supervisor replaces Hypercorn's (``hypercorn.run``): Hypercorn's cancels the other
workers with SIGTERM as soon as the first one exits, and its workers stop at once on the shared shutdown event,
which cut live calls without a hang-up. Here the supervisor passes the signal on and waits for every worker's drain.

``SERVER=granian`` changes only the engine that serves a worker's sockets (``gateway/granian_serving.py``): the same
sockets, supervisor, peer listener, warm-up and drain as with Hypercorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event as EventType
from typing import Any

from .config import Settings

logger = logging.getLogger(__name__)

CLOSE_AFTER_DRAIN_S = 5.0  # Hypercorn's graceful_timeout: after the drain, for sockets of calls already ended
HANG_UP_WAIT_S = 10.0  # at the deadline: how long hanging up the remaining calls may take
SUPERVISOR_MARGIN_S = 30.0  # past drain + hang-up + close, a worker that has not exited is killed


STREAM_CALLBACK = "StreamReaderProtocol.connection_made.<locals>.callback"


def quiet_cut_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler: drops the one known false alarm, passes everything else on.

    When Hypercorn's graceful timeout ends, it cancels the connections still open (media sockets of a load run, the
    console's event streams). On Python 3.11 asyncio's own done-callback for a server connection then calls
    ``task.exception()`` on the cancelled task, which raises, and the loop logs "Exception in callback ...
    CancelledError" with a 30-line traceback per connection (CPython gh-113538, fixed in 3.12): nothing went wrong
    that a human must act on. Any other exception, and this callback with any other exception, is logged as before.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError) and STREAM_CALLBACK in str(context.get("message", "")):
        logger.debug("connection cut at shutdown (cancelled by the server's graceful timeout)")
        return
    loop.default_exception_handler(context)


def peer_listener(settings: Settings) -> socket.socket | None:
    """With ``REDIS_URL``: this process's own listening socket (``PEER_HOST``, a free port), besides the shared one.

    The carrier reaches whichever worker (or replica) accepts first; the call's owner is recorded under this
    address (``gateway/shared/owners.py``), so another process can hand it the call's requests. A port of its own
    per process is the one target that names exactly one process; it only ever serves other gateway processes.
    """
    if settings.redis_url is None:
        return None
    sock = socket.socket(socket.AF_INET6 if ":" in settings.peer_host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.peer_host, 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def peer_url(sock: socket.socket | None) -> str | None:
    if sock is None:
        return None
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def with_peer(config: Any, sockets: Any, peer: socket.socket | None) -> Any:
    """The sockets Hypercorn serves: the shared ones (made from ``config`` when not given) plus the peer listener."""
    if peer is None:
        return sockets
    sockets = sockets or config.create_sockets()
    sockets.insecure_sockets.append(peer)
    return sockets


def stop_deadline_s(drain_timeout_s: float) -> float:
    """How long after the signal a served gateway may take to exit (drain, hang-ups, closing sockets, a margin for
    the store's last writes): the supervisor kills workers still running then; whoever stops one waits as long."""
    return drain_timeout_s + HANG_UP_WAIT_S + CLOSE_AFTER_DRAIN_S + SUPERVISOR_MARGIN_S


def graceful_timeout(settings: Settings) -> float:
    """What Hypercorn waits for connections once the shutdown trigger returns (the drain is over by then)."""
    return min(CLOSE_AFTER_DRAIN_S, max(1.0, settings.drain_timeout_s))


async def drain(gw: Any, settings: Settings) -> None:
    """Refuse new calls, wait for the live ones (bounded by ``DRAIN_TIMEOUT_S``), hang up what is left."""
    loop = asyncio.get_running_loop()
    gw.draining = True
    deadline = loop.time() + settings.drain_timeout_s
    logger.info("draining: %d live session(s), deadline %.0fs", len(gw.hub.live_sessions()), settings.drain_timeout_s)
    # a media socket this worker relays to the worker that owns its call is live too: cutting it would cut the call
    while (gw.hub.live_sessions() or gw.forwarder.relaying) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    leftover = gw.hub.live_sessions()
    if gw.forwarder.relaying:  # their owner hangs them up at its own deadline, which is now as well
        logger.warning("drain deadline passed: %d relayed media socket(s) end with their calls", gw.forwarder.relaying)
    if leftover:  # past the deadline: hang up properly rather than leave callers on a silent line
        logger.warning("drain deadline passed: ending %d live session(s)", len(leftover))
        ending = asyncio.gather(*(gw.hub.end(s.session_id) for s in leftover), return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ending, timeout=HANG_UP_WAIT_S)


async def serve_app(
    app: Any,
    config: Any,
    settings: Settings,
    sockets: Any = None,
    shutdown_event: EventType | None = None,
    gateway: Callable[[], Any] | None = None,
    abort: asyncio.Event | None = None,
) -> None:
    """Run one worker: Hypercorn (or Granian, ``SERVER``) on ``sockets`` (or ``config.bind``); a signal here, or the supervisor's shutdown
    event, starts the drain; a second signal stops at once. ``gateway``: where the app's Gateway is found (a front
    that warms up behind a bound socket has none yet: nothing to drain then); ``abort``: stop at once when set (a
    start-up that failed)."""
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import wrap_app

    from .granian_serving import serve_with_granian

    find_gateway = gateway or (lambda: app.extensions["gateway"])
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(quiet_cut_connections)
    stop = asyncio.Event()
    started: set[asyncio.Task[None]] = set()

    async def drain_then_stop() -> None:
        gw = find_gateway()
        if gw is not None:
            await drain(gw, settings)
        stop.set()

    def begin() -> None:
        if not started:
            started.add(loop.create_task(drain_then_stop(), name="drain"))
        else:
            stop.set()  # asked twice: stop now

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, begin)

    async def watch_supervisor() -> None:
        assert shutdown_event is not None
        while not shutdown_event.is_set():
            await asyncio.sleep(0.1)
        if not started:
            begin()

    async def watch_abort() -> None:
        assert abort is not None
        await abort.wait()
        stop.set()

    watcher = loop.create_task(watch_supervisor(), name="supervisor-watch") if shutdown_event is not None else None
    aborter = loop.create_task(watch_abort(), name="abort-watch") if abort is not None else None
    config.graceful_timeout = graceful_timeout(settings)
    try:
        if settings.server == "granian":
            await serve_with_granian(app, config, sockets, stop)
        else:
            await worker_serve(wrap_app(app, config.wsgi_max_body_size, "asgi"), config, sockets=sockets, shutdown_trigger=stop.wait)
    finally:
        for task in (watcher, aborter, *started):
            if task is not None:
                task.cancel()


def worker_main(config: Any, sockets: Any, shutdown_event: EventType) -> None:
    """A spawned worker process: settings from the environment (the supervisor shared GATEWAY_SECRET there);
    ``sockets`` ``None``: it binds its own (``config.workers`` > 1: with SO_REUSEPORT)."""
    from . import event_loop
    from .app import create_app
    from .logs import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until the loop's own handlers are in place
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    peer = peer_listener(settings)
    app = create_app(settings, peer_url=peer_url(peer))
    served = with_peer(config, sockets, peer)
    event_loop.run(serve_app(app, config, settings, sockets=served, shutdown_event=shutdown_event), settings.event_loop)


def run_workers(config: Any, settings: Settings) -> int:
    """Start ``settings.workers`` processes on shared sockets; on the first signal tell them all to drain, on a
    second pass it on (they stop at once); return when every one has exited (non-zero if any failed)."""
    # under Granian each worker binds its own SO_REUSEPORT listener, as Granian's own runner does on Linux since
    # 2.8 (its engine's accept loop is the one it is tuned for): the kernel spreads connections by their addresses
    sockets = None if settings.server == "granian" else config.create_sockets()
    ctx = get_context("spawn")
    shutdown_event = ctx.Event()
    signals_seen = 0

    def on_signal(*_: Any) -> None:
        nonlocal signals_seen
        signals_seen += 1
        shutdown_event.set()
        if signals_seen > 1:
            for process in processes:
                if process.exitcode is None:
                    process.terminate()

    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes = [
        ctx.Process(target=worker_main, kwargs={"config": config, "sockets": sockets, "shutdown_event": shutdown_event})
        for _ in range(settings.workers)
    ]
    for process in processes:
        process.start()
    for sig in previous:
        signal.signal(sig, on_signal)
    exit_code = 0
    deadline: float | None = None
    try:
        while any(p.exitcode is None for p in processes):
            wait([p.sentinel for p in processes if p.exitcode is None], timeout=0.5)
            failed = [p for p in processes if p.exitcode not in (None, 0)]
            if failed and not shutdown_event.is_set():
                logger.error("a worker exited with %s: stopping the others (with their drain)", failed[0].exitcode)
                shutdown_event.set()
            if shutdown_event.is_set() and deadline is None:
                deadline = time.monotonic() + stop_deadline_s(settings.drain_timeout_s)
            if deadline is not None and time.monotonic() > deadline:
                logger.error("workers did not stop within their drain: killing them")
                for process in processes:
                    if process.exitcode is None:
                        process.kill()
        for process in processes:
            process.join()
            exit_code = exit_code or (process.exitcode or 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets) if sockets is not None else ():
            sock.close()
    return exit_code
