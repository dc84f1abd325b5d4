"""``RealtimeEmulator``: configuration, recorded sessions, fault switches and the app, in one object.

Tests hold one of these: serve ``.app`` (or use ``.serve()``), point the real SDK at it, then assert on
``.sessions``. It is also what the CLI demo and the benchmark run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from gateway.emulators.serving import serve_app

from .config import BenchConfig, EmulatorConfig, Pacing
from .faults import ConnectionStats, DropPlan, Faults
from .records import SessionRecord, poll
from .script import Script, ScriptCursor

if TYPE_CHECKING:
    from quart import Quart

    from .session import RealtimeSession

logger = logging.getLogger(__name__)


class RealtimeEmulator:
    """A local stand-in for the OpenAI / Azure OpenAI Realtime API.

    Keyword arguments override fields of ``config``: ``RealtimeEmulator(api_keys={"k"}, script=...,
    pacing=Pacing(realtime_factor=20))``. ``bench=True`` (or a ``BenchConfig``) selects the benchmark preset.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        api_keys: Iterable[str] | None = None,
        script: Script | None = None,
        pacing: Pacing | None = None,
        bench: bool | BenchConfig = False,
        **overrides: Any,
    ) -> None:
        keys = frozenset(api_keys) if api_keys is not None else None
        if config is None:
            if bench:
                config = EmulatorConfig.for_bench(keys, bench if isinstance(bench, BenchConfig) else None)
            else:
                config = EmulatorConfig(api_keys=keys)
        changes: dict[str, Any] = dict(overrides)
        if api_keys is not None:
            changes["api_keys"] = keys
        if script is not None:
            changes["script"] = script
        if pacing is not None:
            changes["pacing"] = pacing
        self.config = dataclasses.replace(config, **changes) if changes else config
        self.sessions: list[SessionRecord] = []
        self.stats = ConnectionStats()
        self.faults = Faults()
        self._live: dict[str, RealtimeSession] = {}
        self._shared_cursor: ScriptCursor | None = None
        self._app: Quart | None = None

    # ---- serving ---------------------------------------------------------------------------------------------

    @property
    def app(self) -> Quart:
        if self._app is None:
            from .app import create_realtime_app

            self._app = create_realtime_app(self)
        return self._app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0, *, native: bool = False) -> AsyncIterator[str]:
        """Serve on loopback for the duration of the block; yields ``http://host:port``.

        Default: the Quart app under Hypercorn. ``native=True`` serves the same sessions with the ``websockets``
        library directly (several times cheaper per message, no permessage-deflate): for the benchmark.
        """
        if native:
            from .native import serve_native

            async with serve_native(self, host, port) as url:
                yield url
        else:
            async with serve_app(self.app, host, port) as url:
                yield url

    # ---- script ----------------------------------------------------------------------------------------------

    @property
    def script(self) -> Script:
        return self.config.script or Script.default()

    @script.setter
    def script(self, script: Script) -> None:
        """Replace the script for sessions started from now on (and restart a shared cursor)."""
        self.config.script = script
        self._shared_cursor = None

    def cursor_for_session(self) -> ScriptCursor:
        if self.config.script_scope == "emulator":
            if self._shared_cursor is None:
                self._shared_cursor = ScriptCursor(self.script)
            return self._shared_cursor
        return ScriptCursor(self.script)

    # ---- sessions --------------------------------------------------------------------------------------------

    def register(self, session: RealtimeSession) -> None:
        self.sessions.append(session.record)
        self._live[session.record.session_id] = session
        self.stats.accepted += 1
        self.stats.active += 1
        self.stats.max_active = max(self.stats.max_active, self.stats.active)
        logger.info("session %s opened on %s (%s)", session.record.session_id, session.record.path,
                    session.record.dialect.value)  # fmt: skip

    def unregister(self, session: RealtimeSession) -> None:
        if self._live.pop(session.record.session_id, None) is not None:
            self.stats.active -= 1

    def live_sessions(self) -> list[SessionRecord]:
        return [s.record for s in self._live.values()]

    async def wait_for_session(self, n: int = 1, timeout: float = 5.0) -> SessionRecord:  # noqa: ASYNC109
        """Wait until ``n`` sessions have connected in total; returns the ``n``-th (1-based)."""
        await poll(lambda: len(self.sessions) >= n, timeout)
        return self.sessions[n - 1]

    async def wait_for(self, predicate: Callable[[RealtimeEmulator], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        return await poll(lambda: predicate(self), timeout)

    def reset(self) -> None:
        """Forget recorded sessions, counters and faults (live sessions keep running)."""
        self.sessions.clear()
        self.stats = ConnectionStats(active=len(self._live))
        self.faults = Faults()
        self._shared_cursor = None

    # ---- faults ----------------------------------------------------------------------------------------------

    def refuse_connections(self, status: int = 503, *, seconds: float | None = None, count: int | None = None) -> None:
        """Refuse new handshakes with ``status`` (until ``accept_connections``, for ``seconds``, or ``count`` times)."""
        self.faults.refuse_status = status
        self.faults.refuse_until = time.monotonic() + seconds if seconds is not None else None
        self.faults.refuse_remaining = count

    def accept_connections(self) -> None:
        self.faults.refuse_status = self.faults.refuse_until = self.faults.refuse_remaining = None

    def drop_mid_response(self, after_audio_ms: float = 200, *, code: int | None = 1011, times: int = 1) -> None:
        """Drop the connection of the next ``times`` responses after ``after_audio_ms`` of their audio went out.

        ``code=None`` aborts TCP (no close frame) instead of closing with a code.
        """
        self.faults.drop = DropPlan(after_audio_ms, code, times)

    def _live_session(self, record: SessionRecord | None) -> RealtimeSession | None:
        if record is None:
            live = list(self._live.values())
            return live[-1] if live else None
        return self._live.get(record.session_id)

    def drop_session(
        self, record: SessionRecord | None = None, *, code: int | None = 1011, error: str | None = None
    ) -> bool:
        """Drop a live session now (the latest one by default). ``error`` sends an ``error`` event with that code
        first (e.g. ``"session_expired"``). Returns ``False`` when the session is not live."""
        session = self._live_session(record)
        if session is None:
            return False
        session.request_drop(code, error)
        return True

    async def send_raw(self, text: str, record: SessionRecord | None = None) -> bool:
        """Send ``text`` as it is on a live session (the latest one by default): a malformed or unexpected event,
        as a service bug or an unannounced protocol change would produce. Returns ``False`` when not live."""
        session = self._live_session(record)
        if session is None:
            return False
        await session.send_raw(text)
        return True
