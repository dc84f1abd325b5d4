"""Azure Communication Services emulator: Call Automation REST (HMAC-verified), signed callbacks, Event Grid
delivery and the media-streaming WebSocket client, so the gateway's ACS channel runs offline through the real SDK.
"""

from .call import EmulatedCall
from .callbacks import CallbackDisorder
from .caller_audio import CallerAudio, Dtmf, Silence, Speech, speech_from_wav
from .config import DEFAULT_ACCESS_KEY, DEFAULT_RESOURCE_ID, EmulatorConfig
from .emulator import AcsEmulator
from .eventgrid import (
    ValidationResult,
    WebhookResponse,
    cloudevents_handshake,
    handshake_allowed,
    post_events,
    send_subscription_validation,
)
from .events import call_event, incoming_call_event, subscription_validation_event
from .hmac_auth import sign_headers, verify_request
from .media import (
    AcsMediaClient,
    MediaConnectError,
    MediaFactory,
    MediaIdentity,
    MediaLeg,
    MediaLegSpec,
    MediaProbe,
    probe_media_socket,
)
from .models import (
    ACS_ISSUER,
    CallbackDelivery,
    CallState,
    MediaStreamingConfig,
    PlayConfig,
    PlayRecord,
    RecordedRequest,
)
from .playout import PhonePlayout
from .rest import create_acs_app
from .timeline import MediaTimeline, ReceivedFrame, SpeechMark
from .tokens import ForgedToken, TokenIssuer

__all__ = [
    "ACS_ISSUER",
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_RESOURCE_ID",
    "AcsEmulator",
    "AcsMediaClient",
    "CallState",
    "CallbackDisorder",
    "CallbackDelivery",
    "CallerAudio",
    "Dtmf",
    "EmulatedCall",
    "EmulatorConfig",
    "ForgedToken",
    "MediaConnectError",
    "MediaFactory",
    "MediaIdentity",
    "MediaLeg",
    "MediaLegSpec",
    "MediaProbe",
    "MediaStreamingConfig",
    "MediaTimeline",
    "PhonePlayout",
    "PlayConfig",
    "PlayRecord",
    "ReceivedFrame",
    "RecordedRequest",
    "Silence",
    "Speech",
    "SpeechMark",
    "TokenIssuer",
    "ValidationResult",
    "WebhookResponse",
    "call_event",
    "cloudevents_handshake",
    "create_acs_app",
    "handshake_allowed",
    "incoming_call_event",
    "post_events",
    "probe_media_socket",
    "send_subscription_validation",
    "sign_headers",
    "speech_from_wav",
    "subscription_validation_event",
    "verify_request",
]
