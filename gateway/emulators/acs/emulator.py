"""The emulated ACS resource: its REST app, signing key, calls and request log, plus the Event Grid side that
rings the gateway. Tests hold one ``AcsEmulator`` and drive everything through it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from quart import Quart

from gateway.audio import AudioChunk
from gateway.emulators.serving import client_session, serve_app

from .call import EmulatedCall
from .callbacks import post_callback
from .caller_audio import ScriptItem, Silence
from .config import EmulatorConfig
from .eventgrid import post_events
from .events import call_event, incoming_call_event
from .media import MediaIdentity, MediaProbe, media_headers, probe_media_socket
from .models import RecordedRequest
from .notify import Notifier
from .operations import OpResult, error
from .rest import create_acs_app
from .sms import SentSms
from .tokens import TokenIssuer

logger = logging.getLogger(__name__)
OUTBOUND_OUTCOMES = ("answer", "busy", "no-answer", "failed")


@dataclasses.dataclass(frozen=True, slots=True)
class OutboundCallee:
    """The person (or line) the gateway's ``create_call`` reaches."""

    outcome: str = "answer"
    script: tuple[ScriptItem | str | Path | AudioChunk, ...] = ()
    keys: str | None = "1"  # what a person keys when asked to press a key; None: a machine, which never does


class AcsEmulator:
    """One ACS resource. Serve ``app`` (or use ``serve()``), then ring the gateway with ``incoming_call``."""

    def __init__(
        self,
        access_key: str | None = None,
        resource_id: str | None = None,
        *,
        config: EmulatorConfig | None = None,
        **overrides: Any,
    ) -> None:
        """``access_key`` (base64) and ``resource_id`` default to ``config``'s; ``overrides`` set other config fields."""
        if access_key is not None:
            overrides["access_key"] = access_key
        if resource_id is not None:
            overrides["resource_id"] = resource_id
        self.config = dataclasses.replace(config or EmulatorConfig(), **overrides)
        self.issuer = TokenIssuer(audience=self.config.resource_id)
        self.calls: dict[str, EmulatedCall] = {}
        self.requests: list[RecordedRequest] = []
        self.base_url: str | None = None
        self._by_context: dict[str, EmulatedCall] = {}
        self._failures: dict[str, deque[OpResult]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._app: Quart | None = None
        self._notifier = Notifier()
        self._callees: dict[str, OutboundCallee] = {}
        self._transfers: dict[str, str] = {}
        self.sms: list[SentSms] = []  # messages the resource accepted
        self.sms_failures: dict[str, str] = {}  # recipient → the error message its SMS is refused with
        self.sms_undelivered: dict[str, tuple[str, str]] = {}  # recipient → (DeliveryStatus, details) reported
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle --
    @property
    def app(self) -> Quart:
        if self._app is None:
            self._app = create_acs_app(self)
        return self._app

    def http(self) -> aiohttp.ClientSession:
        """The shared client session for callbacks and Event Grid posts (created in the running loop)."""
        if self._http is None or self._http.closed:
            self._http = client_session()
        return self._http

    async def start(self) -> None:
        self.http()

    async def stop(self) -> None:
        """End every live call without notifying the gateway, then release the HTTP session. Idempotent."""
        for call in list(self.calls.values()):
            call.end("emulator", notify=False)
        for call in list(self.calls.values()):
            with contextlib.suppress(TimeoutError):
                await call.wait_closed(timeout_s=10.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the REST app on loopback; yields the endpoint URL for ``CallAutomationClient``."""
        async with serve_app(self.app, host, port) as url:
            self.base_url = url
            try:
                await self.start()
                yield url
            finally:
                await self.stop()

    # -- calls --
    def new_call(
        self,
        *,
        caller: str,
        callee: str,
        direction: str = "inbound",
        script: Iterable[ScriptItem | str | Path | AudioChunk] = (),
    ) -> EmulatedCall:
        call = EmulatedCall(
            config=self.config,
            issuer=self.issuer,
            http=self.http,
            caller=caller,
            callee=callee,
            direction=direction,
            script=script,
        )
        self.calls[call.call_connection_id] = call
        self._by_context[call.incoming_call_context] = call
        self._notifier.notify()
        return call

    def set_outbound_outcome(
        self,
        to: str,
        outcome: str = "answer",
        script: Iterable[ScriptItem | str | Path | AudioChunk] = (),
        keys: str | None = "1",
    ) -> None:
        """What happens when the gateway calls ``to``: ``answer`` (then the callee says ``script``), ``busy``,
        ``no-answer`` or ``failed``; ``keys``: what it keys when a prompt asks (None: an answering machine).
        Numbers without one answer and stay silent."""
        if outcome not in OUTBOUND_OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self._callees[to] = OutboundCallee(outcome, tuple(script), keys)

    def set_transfer_outcome(self, target: str, outcome: str = "accept") -> None:
        """What happens when the gateway transfers a call to ``target``: ``accept``, ``busy``, ``no-answer`` or
        ``failed`` (CallTransferFailed, and the call stays with the gateway). Targets without one accept."""
        if outcome not in ("accept", "busy", "no-answer", "failed"):
            raise ValueError(f"unknown transfer outcome {outcome!r}")
        self._transfers[target] = outcome

    def transfer_outcome(self, target: str) -> str:
        return self._transfers.get(target, "accept")

    def outbound_callee(self, to: str) -> OutboundCallee:
        return self._callees.get(to, OutboundCallee())

    def call_by_context(self, incoming_call_context: str) -> EmulatedCall | None:
        return self._by_context.get(incoming_call_context)

    async def incoming_call(
        self,
        gateway_incoming_url: str,
        caller: str = "+819012345678",
        *,
        wav: str | Path | AudioChunk | None = None,
        script: Iterable[ScriptItem | str | Path | AudioChunk] = (),
        lead_silence_ms: int = 0,
        callee: str | None = None,
        caller_display_name: str = "",
        custom_context: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
    ) -> EmulatedCall:
        """Ring the gateway: POST an IncomingCall event; the caller speaks ``wav`` (then ``script``) once media starts.

        The gateway's HTTP answer is kept on ``call.incoming_response``; the call itself starts when it answers.
        """
        items: list[ScriptItem | str | Path | AudioChunk] = []
        if lead_silence_ms:
            items.append(Silence(lead_silence_ms))
        if wav is not None:
            items.append(wav)
        items.extend(script)
        call = self.new_call(caller=caller, callee=callee or self.config.acs_number, script=items)
        event = incoming_call_event(
            caller=caller,
            callee=call.callee,
            incoming_call_context=call.incoming_call_context,
            server_call_id=call.server_call_id,
            correlation_id=call.correlation_id,
            caller_display_name=caller_display_name,
            custom_context=custom_context,
        )
        call.incoming_response = await post_events(
            gateway_incoming_url, [event], session=self.http(), timeout_s=timeout_s
        )
        if call.incoming_response.status != 200:
            logger.warning("gateway answered IncomingCall with %s", call.incoming_response.status)
        return call

    async def wait_for_call(
        self, predicate: Callable[[EmulatedCall], bool] | None = None, timeout_s: float = 5.0
    ) -> EmulatedCall:
        """Wait for a call (e.g. one the gateway placed with ``create_call``) matching ``predicate``."""

        def check() -> EmulatedCall | None:
            return next((c for c in self.calls.values() if predicate is None or predicate(c)), None)

        return await self._notifier.wait_until(check, timeout_s, "a matching call")

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A background job of the resource (not of a call), cancelled when the emulator stops."""
        task = asyncio.create_task(coro, name=f"acs-emu-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def notify_changed(self) -> None:
        self._notifier.notify()

    # -- REST bookkeeping (used by rest.py) --
    def record_request(self, record: RecordedRequest) -> None:
        self.requests.append(record)
        call = self.calls.get(record.call_connection_id or "")
        if call is not None:
            call.notify_changed()
        self._notifier.notify()

    def operations(self, call_connection_id: str | None = None) -> list[str]:
        """Operation names in arrival order (``answer``, ``play``, ``startMediaStreaming``, …)."""
        return [r.operation for r in self.requests if call_connection_id in (None, r.call_connection_id)]

    def requests_for(self, operation: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.operation == operation]

    def inject_failure(
        self, operation: str, status: int = 500, code: str = "InternalServerError", message: str = "", times: int = 1
    ) -> None:
        """Make the next ``times`` requests for ``operation`` fail (after auth) with this error."""
        queue = self._failures.setdefault(operation, deque())
        for _ in range(times):
            queue.append(error(status, code, message or f"Injected failure for {operation}."))

    def take_injected_failure(self, operation: str) -> OpResult | None:
        queue = self._failures.get(operation)
        return queue.popleft() if queue else None

    # -- security probes --
    async def send_callback(
        self,
        call: EmulatedCall,
        event_type: str = "CallDisconnected",
        *,
        token: str | None,
        url: str | None = None,
        **data: Any,
    ) -> int:
        """POST one event outside the call's queue with the given bearer ``token`` (None: no header); returns the
        gateway's status. Use ``emulator.issuer.forge(...)`` for forged tokens."""
        event = call_event(
            event_type,
            call_connection_id=call.call_connection_id,
            server_call_id=call.server_call_id,
            correlation_id=call.correlation_id,
            **data,
        )
        target = url or call.callback_uri
        if target is None:
            raise ValueError("call has no callbackUri yet; pass url=")
        return await post_callback(self.http(), target, [event], token)

    async def probe_media(
        self, call: EmulatedCall, *, token: str | None, url: str | None = None, wait_s: float = 1.0
    ) -> MediaProbe:
        """Open a second media socket for ``call`` with ``token`` (None: no Authorization) and report the outcome."""
        target = url or (call.media_config.transport_url if call.media_config else None)
        if target is None:
            raise ValueError("call has no transportUrl yet; pass url=")
        if self.config.rewrite_url is not None:
            target = self.config.rewrite_url(target)
        identity = MediaIdentity(call.call_connection_id, call.correlation_id, call.participant_raw_id, "probe")
        return await probe_media_socket(target, media_headers(identity, token), wait_s)
