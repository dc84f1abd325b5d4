"""The TwiML interpreter: fetches documents (signed webhooks), runs their verbs in order in real time, and follows
``<Redirect>`` and ``action`` URLs. ``<Connect><Stream>`` blocks until the socket closes, then the next verb runs;
with no verb left the call ends (twilio.com/docs/voice/twiml/connect)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from .call import TwilioCall
from .callbacks import post_signed_form
from .ids import new_sid
from .play_audio import LINE_RATE, decode_play_audio
from .records import ErrorCode, Transfer, TwimlEntry, WebhookResult
from .signature import signature_headers
from .stream import MediaStreamClient, StreamConnectError, StreamIdentity
from .twiml import Connect, Dial, Hangup, Pause, Play, Redirect, Say, TwimlError, Unsupported, Verb, parse_twiml

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TWIML_CONTENT_TYPES = frozenset({"text/xml", "application/xml", "text/html"})
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."


class _EndCall(Exception):
    """``<Hangup/>``: stop interpreting, the call ends."""


async def fetch_document(call: TwilioCall, url: str, method: str = "POST", **extra: str) -> list[Verb] | None:
    """Request TwiML from ``url`` with the call's parameters (signed); None, with the error recorded, if it failed."""
    params = call.webhook_params(**extra)
    target = call.config.rewrite_url(url) if call.config.rewrite_url else None
    if method == "GET":
        result = await _get_document(call, url, target or url, params)
    else:
        result = await post_signed_form(
            call.http(),
            url,
            params,
            call.config.auth_token,
            connect_url=target,
            timeout_s=call.config.webhook_timeout_s,
        )
    call.webhooks.append(result)
    if result.error == "timeout":
        call.record_error(ErrorCode.HTTP_TIMEOUT, f"{url}: no response in {call.config.webhook_timeout_s:.0f}s")
        return None
    if not result.ok:
        call.record_error(ErrorCode.HTTP_RETRIEVAL_FAILURE, f"{url}: {result.error or f'HTTP {result.status}'}")
        return None
    if result.content_type.split(";")[0].strip().lower() not in TWIML_CONTENT_TYPES:
        call.record_error(ErrorCode.INVALID_CONTENT_TYPE, f"{url}: TwiML served as {result.content_type!r}")
        return None
    return document_verbs(call, result.body)


async def _get_document(call: TwilioCall, url: str, target: str, params: dict[str, str]) -> WebhookResult:
    """``method="GET"``: the parameters go in the query string, and the signature covers that full URL."""
    query = ("&" if "?" in url else "?") + urlencode(params)
    headers = signature_headers(call.config.auth_token, url + query)
    timeout = aiohttp.ClientTimeout(total=call.config.webhook_timeout_s)
    try:
        async with call.http().get(target + query, headers=headers, timeout=timeout) as resp:
            body = await resp.text()
            return WebhookResult(url + query, {}, resp.status, body, resp.headers.get("Content-Type", ""))
    except TimeoutError:
        return WebhookResult(url + query, {}, None, "", "", error="timeout")
    except aiohttp.ClientError as exc:
        return WebhookResult(url + query, {}, None, "", "", error=f"{type(exc).__name__}: {exc}")


def document_verbs(call: TwilioCall, text: str) -> list[Verb] | None:
    try:
        return parse_twiml(text)
    except TwimlError as exc:
        call.record_error(ErrorCode.DOCUMENT_PARSE_FAILURE, str(exc))
        return None


async def run_document(call: TwilioCall, verbs: list[Verb] | None, doc_url: str | None) -> None:
    """Run ``verbs`` and whatever documents they lead to; returns when there is nothing left to do. A document
    that could not be fetched or parsed (None) plays Twilio's application-error message, then the call ends."""
    while True:
        if verbs is None:
            verbs, doc_url = [Say(APPLICATION_ERROR)], None
        next_doc: tuple[list[Verb] | None, str | None] | None = None
        try:
            for verb in verbs:
                next_doc = await _run_verb(call, verb, doc_url)
                if next_doc is not None:
                    break
        except _EndCall:
            return
        if next_doc is None:
            return
        verbs, doc_url = next_doc


async def _run_verb(call: TwilioCall, verb: Verb, doc_url: str | None) -> tuple[list[Verb] | None, str | None] | None:
    """Play one verb; returns a new document to continue with (Redirect, action) or None to go on."""
    entry = TwimlEntry(type(verb).__name__, time.monotonic())
    call.twiml_log.append(entry)
    call.notify_changed()
    try:
        if isinstance(verb, Say):
            entry.text = verb.text
            entry.attributes = {k: v for k, v in (("voice", verb.voice), ("language", verb.language)) if v}
            cfg = call.config
            seconds = min(cfg.say_max_s, max(cfg.say_min_s, len(verb.text) * cfg.say_s_per_char))
            await asyncio.sleep(seconds * max(1, verb.loop))
        elif isinstance(verb, Play):
            await _play(call, verb, entry, doc_url)
        elif isinstance(verb, Pause):
            await asyncio.sleep(verb.length_s)
        elif isinstance(verb, Hangup):
            raise _EndCall
        elif isinstance(verb, Connect):
            return await _connect(call, verb, entry, doc_url)
        elif isinstance(verb, Dial):
            return await _dial(call, verb, entry, doc_url)
        elif isinstance(verb, Redirect):
            entry.url = _absolute(verb.url, doc_url)
            return await fetch_document(call, entry.url, verb.method), entry.url
        elif isinstance(verb, Unsupported):
            entry.error = ErrorCode.DOCUMENT_PARSE_FAILURE
            call.record_error(ErrorCode.DOCUMENT_PARSE_FAILURE, f"unsupported verb <{verb.tag}> skipped")
        return None
    finally:
        entry.ended_at = time.monotonic()
        call.notify_changed()


def _absolute(url: str, doc_url: str | None) -> str:
    return urljoin(doc_url, url) if doc_url else url


async def _play(call: TwilioCall, verb: Play, entry: TwimlEntry, doc_url: str | None) -> None:
    if verb.digits is not None:
        entry.text = verb.digits
        await asyncio.sleep(0.1 * len(verb.digits) + 0.4 * verb.digits.count("w"))
        if verb.url is None:
            return
    assert verb.url is not None
    entry.url = _absolute(verb.url, doc_url)
    target = call.config.rewrite_url(entry.url) if call.config.rewrite_url else entry.url
    try:
        async with call.http().get(target, timeout=aiohttp.ClientTimeout(total=15)) as resp:
            entry.http_status = resp.status
            body, content_type = await resp.read(), resp.headers.get("Content-Type", "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        entry.error = ErrorCode.HTTP_RETRIEVAL_FAILURE
        call.record_error(ErrorCode.HTTP_RETRIEVAL_FAILURE, f"<Play> {entry.url}: {type(exc).__name__}")
        return
    if not 200 <= resp.status < 300:
        entry.error = ErrorCode.HTTP_RETRIEVAL_FAILURE
        call.record_error(ErrorCode.HTTP_RETRIEVAL_FAILURE, f"<Play> {entry.url}: HTTP {resp.status}")
        return
    try:
        entry.pcm = decode_play_audio(body, content_type)
    except ValueError as exc:
        entry.error = ErrorCode.INVALID_CONTENT_TYPE
        call.record_error(ErrorCode.INVALID_CONTENT_TYPE, f"<Play> {entry.url}: {exc}")
        return
    seconds = len(entry.pcm) / 2 / LINE_RATE
    loops = verb.loop if verb.loop > 0 else max(1, int(call.config.max_play_s / max(seconds, 0.001)))
    await asyncio.sleep(min(call.config.max_play_s, seconds * loops))


def _stream_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.query:
        return "the <Stream> url includes query string parameters"
    if parts.scheme == "wss" or (parts.scheme == "ws" and parts.hostname in LOOPBACK_HOSTS):
        return None
    return f"the <Stream> url scheme must be wss (got {parts.scheme or 'none'!r})"


def _ws_base(doc_url: str | None) -> str | None:
    if doc_url is None:
        return None
    return doc_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


async def _connect(
    call: TwilioCall, verb: Connect, entry: TwimlEntry, doc_url: str | None
) -> tuple[list[Verb] | None, str | None] | None:
    if verb.other:
        call.record_error(ErrorCode.DOCUMENT_PARSE_FAILURE, f"<Connect> nouns not emulated: {', '.join(verb.other)}")
    if verb.stream is not None:
        await _stream(call, verb, entry, doc_url)
    if verb.action:
        action = _absolute(verb.action, doc_url)
        return await fetch_document(call, action, verb.method), action
    return None


async def _stream(call: TwilioCall, verb: Connect, entry: TwimlEntry, doc_url: str | None) -> None:
    spec = verb.stream
    assert spec is not None
    url = _absolute(spec.url, _ws_base(doc_url))
    spec = replace(spec, url=url)
    entry.url, entry.attributes = url, dict(spec.parameters)
    problem = _stream_url_problem(url)
    if problem is not None:
        entry.error = ErrorCode.STREAM_HANDSHAKE_ERROR
        call.record_error(ErrorCode.STREAM_HANDSHAKE_ERROR, problem)
        _stream_status(call, spec.status_callback, None, spec.name, "stream-error", problem)
        return
    client = (call.config.stream_factory or MediaStreamClient)(
        spec,
        StreamIdentity(call.account_sid, call.sid, call.config.auth_token),
        call.audio,
        connect_url=call.config.rewrite_url(url) if call.config.rewrite_url else None,
        on_change=call.notify_changed,
        on_error=call.record_error,
        max_stream_s=call.config.max_stream_s,
        open_timeout_s=call.config.stream_open_timeout_s,
    )
    call.streams.append(client)
    try:
        await client.start()
    except StreamConnectError as exc:
        entry.error = ErrorCode.STREAM_HANDSHAKE_ERROR
        call.record_error(ErrorCode.STREAM_HANDSHAKE_ERROR, str(exc))
        _stream_status(call, spec.status_callback, client.stream_sid, spec.name, "stream-error", str(exc))
        return
    call.stream_connected.set()
    _stream_status(call, spec.status_callback, client.stream_sid, spec.name, "stream-started")
    try:
        await client.closed.wait()
    finally:
        if not client.closed.is_set():  # the call ended or its TwiML was replaced: stop, then close
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(client.stop())
        _stream_status(call, spec.status_callback, client.stream_sid, spec.name, "stream-stopped")


def _stream_status(
    call: TwilioCall, url: str | None, stream_sid: str | None, name: str | None, event: str, error: str = ""
) -> None:
    """The ``<Stream statusCallback>``: stream-started / stream-stopped / stream-error (signed, fire and forget)."""
    if not url:
        return
    params = {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "StreamSid": stream_sid or "",
        "StreamName": name or stream_sid or "",
        "StreamEvent": event,
        "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    if error:
        params["StreamError"] = error
    target = call.config.rewrite_url(url) if call.config.rewrite_url else None
    call.spawn(post_signed_form(call.http(), url, params, call.config.auth_token, connect_url=target), "stream-status")


async def _dial(
    call: TwilioCall, verb: Dial, entry: TwimlEntry, doc_url: str | None
) -> tuple[list[Verb] | None, str | None] | None:
    """A transfer: recorded, the child leg "talks" for ``dial_duration_s``, then ``action`` or the next verb."""
    entry.text = " ".join(verb.targets)
    entry.attributes = dict(verb.attributes)
    action = _absolute(verb.action, doc_url) if verb.action else None
    transfer = Transfer(
        time.monotonic(),
        verb.targets,
        verb.caller_id,
        action,
        dict(verb.attributes),
        child_call_sid=new_sid("CA"),
        dial_status=call.config.dial_status,
    )
    call.transfers.append(transfer)
    logger.info("[%s] <Dial> %s", call.sid, entry.text)
    call.notify_changed()
    await asyncio.sleep(call.config.dial_duration_s)
    if action is None:
        return None
    extra = {
        "DialCallStatus": transfer.dial_status,
        "DialCallSid": transfer.child_call_sid,
        "DialCallDuration": str(round(call.config.dial_duration_s)),
    }
    return await fetch_document(call, action, verb.method, **extra), action
