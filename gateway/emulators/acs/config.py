"""Settings of one emulated ACS resource; everything a test may want to vary lives here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .callbacks import CallbackDisorder
from .models import PlayConfig

if TYPE_CHECKING:
    from .media import MediaFactory

DEFAULT_ACCESS_KEY = "ZW11bGF0b3Ita2V5LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk="  # base64, as real keys are
DEFAULT_RESOURCE_ID = "00000000-0000-4000-8000-00000000ac50"


@dataclass(slots=True)
class EmulatorConfig:
    """``access_key`` signs REST calls (base64, like a real key); ``resource_id`` is the JWT audience."""

    access_key: str = DEFAULT_ACCESS_KEY
    resource_id: str = DEFAULT_RESOURCE_ID
    acs_number: str = "+815012345678"  # the number callers dial (IncomingCall ``to``)
    ring_delay_s: float = 0.2  # outbound: create_call → the callee answers, is busy, or starts ringing unanswered
    no_answer_timeout_s: float = 2.0  # outbound: how long an unanswered call rings before CreateCallFailed
    sms_events_url: str | None = None  # where Event Grid posts SMS delivery reports (None: nowhere)
    sms_delivery_delay_s: float = 0.05  # SMS accepted → its delivery report
    callback_delay_s: float = 0.02  # before each callback POST, so answer's response usually lands first
    callbacks: CallbackDisorder = field(default_factory=CallbackDisorder)  # duplicated, reordered, late deliveries
    play: PlayConfig = field(default_factory=PlayConfig)
    media_max_duration_s: float = 900.0  # bounds the frame loop of every media stream
    media_open_timeout_s: float = 5.0
    max_clock_skew_s: float = 900.0  # x-ms-date tolerance
    rewrite_url: Callable[[str], str] | None = None  # map public callback/transport URLs to loopback ones
    media_factory: MediaFactory | None = None  # another media leg than ``AcsMediaClient`` (the benchmark's)
