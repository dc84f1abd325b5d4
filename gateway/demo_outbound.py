"""``voice-gateway demo --call <number>``: an outbound call in the offline demo, the gateway dialling a prospect.

The demo serves the emulated carrier itself (on the port ``simulate-call`` would use) and places the call through
``POST /api/calls`` with the demo's API token, as an integrator would. The prospect is the emulated callee speaking
the shipped recordings: it answers ("こんにちは。"), lets the agent speak, agrees ("はい。") and says goodbye, each
line once the agent has fallen silent, then hangs up. The demo's scripted model walks the meeting-booking profile
on what it hears (``gateway/emulators/demo_script.py``), so the console shows a booking, its ICS file and the SMS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

import aiohttp

logger = logging.getLogger(__name__)
DEMO_AGENT = "meeting-booking"
CALLER_ID = "+815012345678"  # the demo's caller ID on ACS (Twilio's is its emulator's number)
LINES = ("ja_greeting_reply_16k.wav", "ja_backchannel_hai_16k.wav", "ja_goodbye_16k.wav")
AGENT_DONE_S = 1.5  # the agent has said its piece: nothing new heard for this long after some audio
TURN_LIMIT_S = 40.0


@contextlib.asynccontextmanager
async def emulated_carrier(carrier: str) -> AsyncIterator[Any]:
    """The carrier the demo's phone lines point at (``gateway/offline.py``), served here for the outbound call."""
    from .offline import SIMULATOR_ACS_PORT, SIMULATOR_TWILIO_PORT

    if carrier == "acs":
        from .emulators.acs import AcsEmulator

        emulator: Any = AcsEmulator()
        port = SIMULATOR_ACS_PORT
    else:
        from .emulators.twilio import TwilioEmulator
        from .emulators.twilio.config import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

        emulator = TwilioEmulator(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
        port = SIMULATOR_TWILIO_PORT
    try:
        serving = emulator.serve(port=port)
        await serving.__aenter__()
    except OSError as exc:
        raise SystemExit(f"demo --call: cannot serve the emulated {carrier} on port {port} ({exc.strerror}): is simulate-call running?") from None
    try:
        yield emulator
    finally:
        await serving.__aexit__(None, None, None)


async def agent_spoke(heard: Callable[[], bytes], ended: Callable[[], bool]) -> None:
    """Until the agent has spoken and fallen silent (what the callee heard stopped growing), or the call ended."""
    deadline = time.monotonic() + TURN_LIMIT_S
    size, since = len(heard()), time.monotonic()
    grew = False
    while not ended() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = len(heard())
        if now != size:
            size, since, grew = now, time.monotonic(), True
        elif grew and time.monotonic() - since >= AGENT_DONE_S:
            return


async def place_demo_call(base: str, token: str, to: str, carrier: str, emulator: Any, gw: Any, out: TextIO) -> None:
    """Dial ``to`` through the calls API, play the prospect's part, then print what the record says."""
    from .emulators.acs import Silence
    from .emulators.known_speech import CALLERS_DIR

    lines = [CALLERS_DIR / name for name in LINES]
    if carrier == "acs":  # the profile's short-silence check hears the prospect's "こんにちは。" first
        emulator.set_outbound_outcome(_e164(to), "answer", [lines[0], Silence(1500)], keys=None)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        body = {"to": to, "carrier": carrier, "agent": DEMO_AGENT, "variables": {"name": "佐藤", "company": "デモ商事"}}
        async with http.post(f"{base}/api/calls", json=body, headers=headers) as r:
            placed = await r.json()
            if r.status != 202:
                out.write(f"demo --call: the gateway did not place the call ({r.status}: {placed})\n")
                return
        call_id = placed["id"]
        out.write(f"outbound call {call_id}: dialling {to} on {carrier}\n")
        if carrier == "acs":
            call = await emulator.wait_for_call(lambda c: c.direction == "outbound", 20)
            ended = lambda: call.disconnected_by is not None  # noqa: E731
        else:
            call = await emulator.wait_for_call(lambda c: c.direction == "outbound-api", 20)
            ended = lambda: call.status in ("completed", "canceled", "failed")  # noqa: E731
        for line in lines:
            await agent_spoke(call.heard_pcm, ended)
            if ended():
                break
            call.say(line)
        await agent_spoke(call.heard_pcm, ended)
        if not ended():
            await call.hang_up()
        record = await _finished(http, f"{base}/api/calls/{call_id}", headers)
    conversation = await gw.store.conversation(call_id) or {}
    for turn in conversation.get("turns", []):
        out.write(f"  {'agent' if turn['role'] == 'assistant' else 'prospect'}: {turn['text']}\n")
    out.write(f"outcome: {record.get('status')}; SMS after the call: {record.get('sms_after_call')}\n")
    for appointment in record.get("appointments", []):
        out.write(f"booked: {appointment['written']} for {appointment['who']}  (ICS: {base}{appointment['ics']})\n")
    for sms in record.get("sms", []):
        out.write(f"SMS to {sms['to']}: {sms['text']}\n")


def _e164(number: str) -> str:
    from .phone_numbers import to_e164

    return to_e164(number)


async def _finished(http: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with http.get(url, headers=headers) as r:
            record = await r.json()
        if record.get("done"):
            break
        await asyncio.sleep(0.2)
    return record
