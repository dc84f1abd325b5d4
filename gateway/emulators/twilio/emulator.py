"""The emulated Twilio account: its REST app, calls, messages and request log, and the inbound side that rings
the gateway. Tests hold one ``TwilioEmulator`` and drive everything through it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from quart import Quart

from gateway.audio import AudioChunk
from gateway.emulators.acs.caller_audio import ScriptItem
from gateway.emulators.acs.notify import Notifier
from gateway.emulators.serving import client_session, serve_app

from .call import API_VERSION, TwilioCall, rfc2822
from .callbacks import STATUS_EVENTS, parse_status_events, post_signed_form
from .config import OutboundOutcome, TwilioEmulatorConfig
from .ids import new_sid
from .interpreter import document_verbs, fetch_document, run_document
from .outbound import OutboundRequest, place_outbound
from .probes import StreamProbe, probe_stream, send_webhook
from .records import CallStatus, Message, RecordedRequest, WebhookResult
from .rest import ApiError, create_twilio_app, valid_address, valid_sms_address
from .signature import compute_signature

logger = logging.getLogger(__name__)

MAX_INLINE_TWIML = 4000


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


class TwilioEmulator:
    """One Twilio account. Serve it with ``serve()``, then ring the gateway with ``incoming_call``."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        config: TwilioEmulatorConfig | None = None,
        **overrides: Any,
    ) -> None:
        """``overrides`` set other ``TwilioEmulatorConfig`` fields (``ring_delay_s=0.05``…)."""
        if account_sid is not None:
            overrides["account_sid"] = account_sid
        if auth_token is not None:
            overrides["auth_token"] = auth_token
        self.config = dataclasses.replace(config or TwilioEmulatorConfig(), **overrides)
        self.calls: dict[str, TwilioCall] = {}
        self.messages: list[Message] = []
        self.requests: list[RecordedRequest] = []
        self.base_url: str | None = None
        self._outcomes: dict[str, OutboundOutcome] = {}
        self._http: aiohttp.ClientSession | None = None
        self._app: Quart | None = None
        self._notifier = Notifier()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle --
    @property
    def app(self) -> Quart:
        if self._app is None:
            self._app = create_twilio_app(self)
        return self._app

    def http(self) -> aiohttp.ClientSession:
        """The shared client session for webhooks, callbacks and ``<Play>`` fetches (created in the running loop)."""
        if self._http is None or self._http.closed:
            self._http = client_session()
        return self._http

    async def stop(self) -> None:
        """End every live call (the gateway gets ``stop`` and the final callbacks), then release the session."""
        for call in list(self.calls.values()):
            call.end("emulator")
        for call in list(self.calls.values()):
            with contextlib.suppress(TimeoutError):
                await call.ended(timeout_s=10.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the REST API on loopback; yields the base URL to put in place of ``https://api.twilio.com``."""
        async with serve_app(self.app, host, port) as url:
            self.base_url = url
            try:
                self.http()
                yield url
            finally:
                await self.stop()

    def sign(self, url: str, params: dict[str, str] | None = None) -> str:
        """The ``X-Twilio-Signature`` this account puts on a request to ``url`` with ``params``."""
        return compute_signature(self.config.auth_token, url, params or {})

    # -- security probes --
    async def send_webhook(
        self, url: str, params: dict[str, str], *, token: str | None = None, signed: bool = True
    ) -> WebhookResult:
        """POST a Twilio-shaped form to the gateway, signed with ``token`` (default: the account's; another one
        forges it) or unsigned; returns the gateway's answer."""
        return await send_webhook(self.http(), url, params, token or self.config.auth_token, signed=signed)

    async def probe_stream(self, url: str, *, token: str | None = None, signed: bool = True) -> StreamProbe:
        """Open a bare media socket to ``url`` signed with ``token`` (default: the account's) or unsigned."""
        return await probe_stream(url, (token or self.config.auth_token) if signed else None)

    # -- calls --
    def _new_call(self, **kwargs: Any) -> TwilioCall:
        call = TwilioCall(config=self.config, http=self.http, **kwargs)
        self.calls[call.sid] = call
        self._notifier.notify()
        return call

    async def incoming_call(
        self,
        voice_url: str,
        *,
        from_: str = "+819012345678",
        to: str | None = None,
        status_callback: str | None = None,
        status_callback_events: Iterable[str] = ("completed",),
        script: Iterable[ScriptItem | str | Path | AudioChunk] = (),
        method: str = "POST",
    ) -> TwilioCall:
        """A caller dials the Twilio number: the Voice URL is requested (signed) and its TwiML starts running.

        Returns once the gateway answered the webhook; a failed webhook is recorded (11200/12100) and
        the caller hears Twilio's application-error message before the call ends.
        """
        call = self._new_call(
            from_=from_,
            to=to or self.config.twilio_number,
            script=script,
            status_callback=status_callback,
            status_events=parse_status_events(list(status_callback_events)),
        )
        call.set_status(CallStatus.INITIATED)
        call.set_status(CallStatus.RINGING)
        verbs = await fetch_document(call, voice_url, method)
        call.set_status(CallStatus.IN_PROGRESS)
        call.run(run_document(call, verbs, voice_url))
        return call

    def set_outbound_outcome(self, to: str, outcome: str = "answer", answered_by: str = "human") -> None:
        """What happens when the gateway calls ``to``: ``answer``, ``busy``, ``no-answer`` or ``failed``."""
        if outcome not in ("answer", "busy", "no-answer", "failed"):
            raise ValueError(f"unknown outcome {outcome!r}")
        self._outcomes[to] = OutboundOutcome(outcome, answered_by)

    async def create_call(self, params: dict[str, list[str]]) -> TwilioCall:
        """``Calls.json`` create (called by the REST app): validate like Twilio, then ring in the background."""
        to, from_ = _one(params, "To"), _one(params, "From")
        url, twiml = _one(params, "Url"), _one(params, "Twiml")
        if not to:
            raise ApiError(400, 21201, "No 'To' number is specified")
        if not valid_address(to):
            raise ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_:
            raise ApiError(400, 21603, "A 'From' phone number is required.")
        if not valid_address(from_):
            raise ApiError(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
        if bool(url) == bool(twiml):
            raise ApiError(400, 21205, "Exactly one of Url or Twiml is required (ApplicationSid is not emulated).")
        if twiml is not None and len(twiml) > MAX_INLINE_TWIML:
            raise ApiError(400, 21232, f"Twiml is longer than {MAX_INLINE_TWIML} characters.")
        try:
            timeout_s = float(_one(params, "Timeout") or 60)
        except ValueError:
            raise ApiError(400, 21207, "Timeout must be a number of seconds.") from None
        events = params.get("StatusCallbackEvent") or list(STATUS_EVENTS[-1:])
        call = self._new_call(
            from_=from_,
            to=to,
            direction="outbound-api",
            status_callback=_one(params, "StatusCallback"),
            status_events=parse_status_events(events),
        )
        request = OutboundRequest(
            url=url,
            method=(_one(params, "Method") or "POST").upper(),
            twiml=twiml,
            timeout_s=min(600.0, timeout_s),
            machine_detection=_one(params, "MachineDetection"),
            async_amd=(_one(params, "AsyncAmd") or "false").lower() == "true",
            amd_callback=_one(params, "AsyncAmdStatusCallback"),
        )
        call.run(place_outbound(call, request, self._outcomes.get(to, OutboundOutcome())))
        return call

    async def update_call(self, call: TwilioCall, params: dict[str, list[str]]) -> None:
        """``Calls/{Sid}.json`` update: ``Status`` ends the call; ``Twiml``/``Url`` replace the running TwiML."""
        status, url, twiml = _one(params, "Status"), _one(params, "Url"), _one(params, "Twiml")
        if url and twiml:
            raise ApiError(400, 21205, "Url and Twiml are mutually exclusive.")
        if status is not None:
            if status not in ("completed", "canceled"):
                raise ApiError(400, 20001, f"Status must be completed or canceled, not {status!r}.")
            if call.status in (CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING):
                call.end("api", CallStatus.CANCELED)
            elif call.status == CallStatus.IN_PROGRESS and status == "completed":
                call.end("api")
            return
        if not (url or twiml):
            return
        if call.status != CallStatus.IN_PROGRESS:
            raise ApiError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if twiml is not None:
            verbs = document_verbs(call, twiml)
            call.replace_document(lambda: run_document(call, verbs, None))
        else:
            assert url is not None
            method = (_one(params, "Method") or "POST").upper()
            call.replace_document(lambda: _fetch_and_run(call, url, method))

    async def wait_for_call(
        self, predicate: Callable[[TwilioCall], bool] | None = None, timeout_s: float = 5.0
    ) -> TwilioCall:
        """Wait for a call (e.g. one the gateway created through ``Calls.json``) matching ``predicate``."""

        def check() -> TwilioCall | None:
            return next((c for c in self.calls.values() if predicate is None or predicate(c)), None)

        return await self._notifier.wait_until(check, timeout_s, "a matching call")

    # -- messages --
    def create_message(self, params: dict[str, list[str]]) -> dict[str, Any]:
        """``Messages.json`` create: the SMS is recorded as ``queued``; with a ``StatusCallback`` it then reports
        ``sent`` and ``delivered`` (signed), never the initial status."""
        to, from_ = _one(params, "To"), _one(params, "From") or _one(params, "MessagingServiceSid")
        body, media = _one(params, "Body") or "", tuple(params.get("MediaUrl", []))
        if not to:
            raise ApiError(400, 21604, "A 'To' phone number is required.")
        if not valid_sms_address(to):
            raise ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_:
            raise ApiError(400, 21603, "A 'From' phone number is required.")
        if not body and not media and not _one(params, "ContentSid"):
            raise ApiError(400, 21602, "Message body is required.")
        message = Message(
            new_sid("SM"), to, from_, body, media, _one(params, "StatusCallback"), time.monotonic(), params
        )
        self.messages.append(message)
        self._notifier.notify()
        if message.status_callback:
            self._spawn(self._deliver_message(message), f"sms-{message.sid}")
        now = rfc2822(time.time())
        return {
            "sid": message.sid,
            "account_sid": self.config.account_sid,
            "to": to,
            "from": from_,
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "num_media": str(len(media)),
            "api_version": API_VERSION,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "uri": f"/{API_VERSION}/Accounts/{self.config.account_sid}/Messages/{message.sid}.json",
        }

    async def wait_for_message(
        self, predicate: Callable[[Message], bool] | None = None, timeout_s: float = 5.0
    ) -> Message:
        def check() -> Message | None:
            return next((m for m in self.messages if predicate is None or predicate(m)), None)

        return await self._notifier.wait_until(check, timeout_s, "a matching message")

    async def _deliver_message(self, message: Message) -> None:
        """The message's status callbacks, ``sent`` then ``delivered`` (none for the initial ``queued``)."""
        assert message.status_callback is not None
        target = self.config.rewrite_url(message.status_callback) if self.config.rewrite_url else None
        for status in ("sent", "delivered"):
            await asyncio.sleep(self.config.sms_delivery_delay_s)
            params = {
                "AccountSid": self.config.account_sid,
                "ApiVersion": API_VERSION,
                "From": message.from_,
                "MessageSid": message.sid,
                "MessageStatus": status,
                "SmsSid": message.sid,
                "SmsStatus": status,
                "To": message.to,
            }
            result = await post_signed_form(
                self.http(), message.status_callback, params, self.config.auth_token, connect_url=target
            )
            message.deliveries.append(result)
            self._notifier.notify()

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.create_task(coro, name=f"twilio-emu-{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- REST bookkeeping --
    def record_request(self, record: RecordedRequest) -> None:
        self.requests.append(record)
        call = self.calls.get(record.call_sid or "")
        if call is not None:
            call.notify_changed()
        self._notifier.notify()


async def _fetch_and_run(call: TwilioCall, url: str, method: str) -> None:
    await run_document(call, await fetch_document(call, url, method), url)
