"""Twilio emulator: Programmable Voice webhooks and TwiML, bidirectional Media Streams (the WebSocket client side)
and the REST API (Calls, Messages), written from Twilio's documentation so the gateway's Twilio channel runs
offline through the official ``twilio`` SDK.

Pointing the official SDK at the emulator (the gateway's ``TWILIO_API_BASE`` setting uses the same recipe)::

    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    http_client = AsyncTwilioHttpClient()              # create it inside the running event loop
    client = Client(account_sid, auth_token, http_client=http_client, environment={"TWILIO_EDGE": ""})
    client.api.base_url = api_base                     # e.g. "http://127.0.0.1:18081" instead of https://api.twilio.com
    call = await client.calls.create_async(to=..., from_=..., url=...)
    await http_client.close()

``client.api.base_url`` is read at request time, so set it once after creating the client; it covers
``client.calls`` and ``client.messages`` (both live under the ``api`` domain). The synchronous client works the
same way with ``twilio.http.http_client.TwilioHttpClient`` (run it in a thread: it blocks). Leave
``TWILIO_EDGE``/``TWILIO_REGION`` unset or pass a non-empty ``environment`` mapping without them (an empty dict is
falsy and falls back to the process environment): an edge or region rewrites the host and mangles a loopback address.

Inbound calls: ``await emu.incoming_call(voice_url, script=[...])`` POSTs the signed voice webhook and runs the
TwiML the gateway returns; ``<Connect><Stream url="wss://…">`` dials the gateway with ``X-Twilio-Signature``
computed over that URL with no parameters (``ws://`` is accepted for loopback hosts only). What the caller heard,
marks, clears, transfers and errors (Twilio codes) are recorded on the ``TwilioCall``. The caller's script uses
the ACS emulator's items (``Speech``, ``Silence``, ``Dtmf``, or a WAV path), re-exported here.

Outbound calls: the gateway's ``Calls.json`` create rings for ``ring_delay_s`` twice (initiated → ringing →
in-progress) and then fetches ``Url`` (or runs ``Twiml``) with ``Direction=outbound-api``;
``emu.set_outbound_outcome(to, "busy" | "no-answer" | "failed", answered_by=...)`` changes what the callee does.
A REST update with ``Twiml``/``Url`` stops the running TwiML (the stream gets ``stop`` and is closed) and runs the
new document; ``<Dial>`` is recorded in ``call.transfers``. Status callbacks are POSTed for the asked
``StatusCallbackEvent``s (``completed`` by default); ``StatusCallbackDisorder`` duplicates, reorders or delays them.
"""

from gateway.emulators.acs.caller_audio import Dtmf, Silence, Speech, speech_from_wav

from .call import TwilioCall
from .callbacks import parse_status_events, post_signed_form
from .config import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_TWILIO_NUMBER,
    OutboundOutcome,
    StatusCallbackDisorder,
    TwilioEmulatorConfig,
)
from .emulator import TwilioEmulator
from .play_audio import decode_play_audio
from .playout import PlayedFrame, StreamPlayout
from .probes import StreamProbe, probe_stream, send_webhook
from .records import (
    CallError,
    CallStatus,
    ClearRecord,
    ErrorCode,
    MarkRecord,
    Message,
    RecordedRequest,
    StatusDelivery,
    Transfer,
    TwimlEntry,
    WebhookResult,
)
from .rest import create_twilio_app
from .signature import SIGNATURE_HEADER, compute_signature, signature_headers
from .stream import MediaStreamClient, StreamConnectError
from .twiml import TwimlError, parse_twiml

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_TWILIO_NUMBER",
    "SIGNATURE_HEADER",
    "CallError",
    "CallStatus",
    "ClearRecord",
    "Dtmf",
    "ErrorCode",
    "MarkRecord",
    "MediaStreamClient",
    "Message",
    "OutboundOutcome",
    "PlayedFrame",
    "RecordedRequest",
    "Silence",
    "Speech",
    "StatusCallbackDisorder",
    "StatusDelivery",
    "StreamConnectError",
    "StreamPlayout",
    "StreamProbe",
    "Transfer",
    "TwilioCall",
    "TwilioEmulator",
    "TwilioEmulatorConfig",
    "TwimlEntry",
    "TwimlError",
    "WebhookResult",
    "compute_signature",
    "create_twilio_app",
    "decode_play_audio",
    "parse_status_events",
    "parse_twiml",
    "post_signed_form",
    "probe_stream",
    "send_webhook",
    "signature_headers",
    "speech_from_wav",
]
