"""This process's live phone calls of one line, by call key, and its memory of recently ended ones.

The call key is in every callback and media URL of a call, signed with the line's token purpose, so a URL copied
from a log is useless once its window has passed, and an ended call's URLs are spent: a late callback or a
replayed media socket never brings a call back.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict

from gateway.services import Gateway

from .call import PhoneCall, phone_session_id
from .carrier import CallControl

logger = logging.getLogger(__name__)

OWNER_LOST = "owner_lost"  # the outcome of a call whose process stopped under it (its record closed by another)
MEDIA_CONNECT_WINDOW_S = 600  # the carrier dials the media URL once the greeting has played: seconds, not minutes
ENDED_KEYS_KEPT = 10_000
MEDIA_CLAIM_TTL_S = 6 * 3600.0  # longer than any call: a media URL stays spent while its call could still be live
# outcomes the call itself decided, which win over how its socket or carrier saw the end
CALL_DECIDED = {"transferring": "transferred", "machine": "machine", "machine_message_left": "machine_message_left"}


def new_call_key(now: float | None = None) -> str:
    """32 hex digits: when the call was answered (8), then random (24). The key is signed into the call's URLs, so
    the time in it cannot be forged: a media URL copied from a log is useless once its window has passed."""
    return f"{int(time.time() if now is None else now):08x}{uuid.uuid4().hex[:24]}"


def call_key_age_s(call_key: str, now: float | None = None) -> float | None:
    """Seconds since the key was minted; ``None`` when it carries no time (not minted by ``new_call_key``)."""
    try:
        return (time.time() if now is None else now) - int(call_key[:8], 16)
    except ValueError:
        return None


class LiveCalls:
    channel = "phone"  # the sessions' channel name (a carrier may name its own)

    def __init__(self, gw: Gateway, control: CallControl, purpose: str, audio_format: str = "pcm") -> None:
        self.gw = gw
        self.control = control
        self.purpose = purpose
        self.audio_format = audio_format
        self.calls: dict[str, PhoneCall] = {}
        self.ended: OrderedDict[str, None] = OrderedDict()  # recently ended call keys: their URLs are spent

    def sign(self, call_key: str) -> str:
        return self.gw.signer.sign(self.purpose, call_key)

    def verify(self, call_key: str, token: str | None) -> bool:
        return self.gw.signer.verify(self.purpose, call_key, token)

    def media_refusal(self, call_key: str) -> tuple[int, str] | None:
        """Why a (validly signed) media socket for ``call_key`` must not be bridged, or ``None``."""
        if call_key in self.ended:
            return 410, "the call has ended"
        call = self.calls.get(call_key)
        if call is not None and call.media_connected.is_set():
            return 409, "the call's media socket is already connected"
        age = call_key_age_s(call_key)
        if call is None and (age is None or not -60 <= age <= MEDIA_CONNECT_WINDOW_S):
            return 403, "the media URL has expired"
        return None

    async def media_refusal_everywhere(self, call_key: str) -> tuple[int, str] | None:
        """``media_refusal``, and with shared state also: the call was ended by another process, or another
        process already took its media socket (a media URL is single use on every process)."""
        refusal = self.media_refusal(call_key)
        if refusal is not None or not self.gw.shared.distributed:
            return refusal
        if await self.gw.owners.has_ended(call_key):
            self.remember_ended(call_key)
            return 410, "the call has ended"
        if not await self.gw.shared.claim_once(f"media:{self.purpose}:{call_key}", MEDIA_CLAIM_TTL_S):
            return 409, "the call's media socket is already connected"
        return None

    def get_or_create(self, call_key: str, caller: str = "", agent: str | None = None) -> PhoneCall:
        call = self.calls.get(call_key)
        if call is None:
            # a callback or media socket can reach a worker that did not answer the call: it takes the call over
            call = PhoneCall(self.gw, self.control, call_key, caller, self.gw.profile(agent), self.audio_format, self.channel)
            self.calls[call_key] = call
        return call

    def remember_ended(self, call_key: str) -> None:
        self.ended[call_key] = None
        while len(self.ended) > ENDED_KEYS_KEPT:
            self.ended.popitem(last=False)

    async def ended_elsewhere(self, call_key: str, *aliases: str) -> None:
        """The carrier says a call is over that this process does not carry and no live process took from it (its
        owner stopped): it is ended on every process, and its record, which nobody else will close, is closed."""
        self.remember_ended(call_key)
        if not self.gw.shared.distributed:
            return  # one process: a call it does not know was never its to record
        if await self.gw.owners.has_ended(call_key):
            return  # its owner ended it (the media socket closes just before the hang-up arrives) and writes its record
        await self.gw.owners.ended(call_key, *aliases)
        session_id = phone_session_id(call_key)
        record = await self.gw.store.conversation(session_id)
        if record is not None and not record.get("ended_at"):
            logger.warning("call ended while its process was gone: record closed as %s", OWNER_LOST)
            await self.gw.store.end_conversation(session_id, OWNER_LOST, time.time())

    async def end(self, call_key: str, outcome: str, *aliases: str) -> None:
        """``aliases``: the other keys the call's owner record has (e.g. ``sid:<CallSid>``)."""
        call = self.calls.pop(call_key, None)
        self.remember_ended(call_key)
        await self.gw.owners.ended(call_key, *aliases)
        if call is not None:
            await call.finish(CALL_DECIDED.get(call.outcome, outcome))

    async def end_all(self, outcome: str) -> None:
        for key in list(self.calls):
            await self.end(key, outcome)
        await self.control.close()
