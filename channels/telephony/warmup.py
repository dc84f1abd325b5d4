"""The call's Realtime session, opened once while the greeting plays and picked up by the media socket."""

from __future__ import annotations

import asyncio
import logging

from gateway.engines.base import EngineUnavailable
from gateway.engines.realtime import RealtimeSession
from gateway.logs import session_context
from gateway.profiles import AgentProfile
from gateway.services import Gateway

logger = logging.getLogger(__name__)
ENGINE_WAIT_S = 15.0


class EngineWarmup:
    def __init__(
        self, gw: Gateway, session_id: str, caller: str, profile: AgentProfile, audio_format: str = "pcm", channel: str = "phone"
    ) -> None:
        self.gw = gw
        self.channel = channel
        self.session_id = session_id
        self.caller = caller
        self.profile = profile
        self.audio_format = audio_format
        self.engine: RealtimeSession | None = None
        self._task: asyncio.Task[object] | None = None

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Open the Realtime session now; created once, reused by the media socket."""
        if self._task is None:
            with session_context(self.session_id):
                self._task = self.gw.spawn(self._start_engine(), f"prewarm-{self.session_id}")

    async def _start_engine(self) -> RealtimeSession | EngineUnavailable:
        """Any failure here is this call's to report: logged now, returned as the task's result (the caller is told
        at the next step: the greeting's end or the media socket's arrival)."""
        try:
            setup = self.gw.agent_setup(self.session_id, self.channel, self.caller, self.profile)
            engine = self.gw.realtime_session(setup, self.audio_format)
            await engine.start()
        except EngineUnavailable as exc:
            logger.error("realtime session set-up failed: %s", exc)
            return exc
        except Exception as exc:
            logger.exception("realtime session set-up failed")
            return EngineUnavailable(f"session set-up failed: {type(exc).__name__}: {exc}")
        self.engine = engine
        logger.info("realtime session ready")
        return engine

    async def ready(self, timeout: float = ENGINE_WAIT_S) -> RealtimeSession:
        self.start()
        assert self._task is not None
        try:
            result = await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            raise EngineUnavailable("the AI provider did not answer in time") from None
        if isinstance(result, EngineUnavailable):
            raise result
        assert isinstance(result, RealtimeSession)
        return result

    def failed(self) -> bool:
        task = self._task
        return bool(task and task.done() and not task.cancelled() and isinstance(task.result(), EngineUnavailable))

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.engine is not None:
            await self.engine.close()
