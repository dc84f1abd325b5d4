"""Event Grid's side of the webhook leg: subscription validation, the CloudEvents OPTIONS handshake, and event
delivery to the gateway's IncomingCall endpoint (protocols.md A.1)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .events import subscription_validation_event

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0  # Event Grid's own limit for the validation answer


@dataclass(slots=True, frozen=True)
class WebhookResponse:
    """What the gateway answered to one Event Grid request."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class ValidationResult:
    """Subscription validation passes only with HTTP 200 and the echoed code (202 is not accepted)."""

    ok: bool
    code: str
    response: WebhookResponse


@contextlib.asynccontextmanager
async def _session(session: aiohttp.ClientSession | None) -> AsyncIterator[aiohttp.ClientSession]:
    if session is not None:
        yield session
        return
    async with aiohttp.ClientSession() as own:
        yield own


async def _read_body(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text()
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


async def post_events(
    url: str,
    events: list[dict[str, Any]],
    event_type_header: str = "Notification",
    *,
    session: aiohttp.ClientSession | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> WebhookResponse:
    """POST an Event Grid schema array with ``aeg-event-type`` as Event Grid does."""
    headers = {
        "aeg-event-type": event_type_header,
        "aeg-subscription-name": "ACS-EMULATOR",
        "aeg-delivery-count": "0",
        "aeg-data-version": str(events[0].get("dataVersion", "1.0")) if events else "1.0",
        "aeg-metadata-version": "1",
        "Content-Type": "application/json",
    }
    async with (
        _session(session) as http,
        http.post(
            url, data=json.dumps(events), headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp,
    ):
        body = await _read_body(resp)
        logger.debug("event grid %s -> %s %s", event_type_header, resp.status, url)
        return WebhookResponse(resp.status, body, dict(resp.headers))


async def send_subscription_validation(
    url: str,
    validation_code: str | None = None,
    *,
    session: aiohttp.ClientSession | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ValidationResult:
    event = subscription_validation_event(validation_code)
    code = event["data"]["validationCode"]
    response = await post_events(url, [event], "SubscriptionValidation", session=session, timeout_s=timeout_s)
    echoed = response.body.get("validationResponse") if isinstance(response.body, dict) else None
    return ValidationResult(response.status == 200 and echoed == code, code, response)


async def cloudevents_handshake(
    url: str,
    origin: str = "eventgrid.azure.net",
    *,
    session: aiohttp.ClientSession | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> WebhookResponse:
    """CloudEvents 1.0 abuse-protection handshake: OPTIONS with ``WebHook-Request-Origin``; the gateway must echo it
    (or ``*``) in ``WebHook-Allowed-Origin``."""
    async with (
        _session(session) as http,
        http.options(
            url, headers={"WebHook-Request-Origin": origin}, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp,
    ):
        return WebhookResponse(resp.status, await _read_body(resp), dict(resp.headers))


def handshake_allowed(response: WebhookResponse, origin: str = "eventgrid.azure.net") -> bool:
    allowed = {k.lower(): v for k, v in response.headers.items()}.get("webhook-allowed-origin")
    return 200 <= response.status < 300 and allowed in (origin, "*")
