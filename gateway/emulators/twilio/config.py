"""Settings of one emulated Twilio account; everything a test may want to vary lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ACCOUNT_SID = "AC" + "0e1a7e" + "0" * 18 + "00c0ffee"  # "AC" + 32 hex, like a real one
DEFAULT_AUTH_TOKEN = "5e1f7e575ec2e7f0b0e1a7e0c0ffee42"  # 32 hex, like a real one; for tests only
DEFAULT_TWILIO_NUMBER = "+815012345678"


@dataclass(frozen=True, slots=True)
class StatusCallbackDisorder:
    """How call status callbacks misbehave; Twilio says they are separate requests with no ordering guarantee.
    ``duplicate``: each is delivered twice. ``reorder``: each waits up to ``reorder_window_s`` for the next one of
    the same call, which then goes first. ``delay_s``: every delivery is that much later."""

    duplicate: bool = False
    reorder: bool = False
    reorder_window_s: float = 0.3
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboundOutcome:
    """What happens to a REST-created call: ``answer``, ``busy``, ``no-answer`` or ``failed``; ``answered_by`` is
    the answering-machine-detection result when the call asked for it."""

    outcome: str = "answer"
    answered_by: str = "human"


@dataclass(slots=True)
class TwilioEmulatorConfig:
    """``account_sid``/``auth_token`` authenticate the REST API and sign every webhook and media socket."""

    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    twilio_number: str = DEFAULT_TWILIO_NUMBER  # the number inbound callers dial (``To``)
    ring_delay_s: float = 0.2  # outbound: queued → ringing → answered/busy/no-answer
    say_s_per_char: float = 0.04  # ``<Say>`` duration estimate
    say_min_s: float = 0.2
    say_max_s: float = 15.0
    max_play_s: float = 60.0  # bounds ``<Play loop="0">`` and long files
    dial_duration_s: float = 0.2  # how long a ``<Dial>`` leg lasts before ``DialCallStatus`` is reported
    dial_status: str = "completed"
    amd_delay_s: float = 0.3
    sms_delivery_delay_s: float = 0.05  # queued → sent → delivered  # async AMD: answer → AsyncAmdStatusCallback
    webhook_timeout_s: float = 15.0  # Twilio waits 15 s for a TwiML response (error 11205 after)
    stream_open_timeout_s: float = 5.0
    max_stream_s: float = 900.0  # bounds the 20 ms frame loop
    status_callbacks: StatusCallbackDisorder = field(default_factory=StatusCallbackDisorder)
    rewrite_url: Callable[[str], str] | None = None  # public webhook/stream URLs → loopback (signature unchanged)
    # builds each <Stream>'s client instead of ``MediaStreamClient`` (same constructor and interface; the benchmark's
    # lean legs)
    stream_factory: Callable[..., Any] | None = None
