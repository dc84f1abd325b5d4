"""A real ``voice-gateway serve`` process stopped (SIGTERM) in the middle of a campaign and started again on the same
store: the new process resumes the campaign by itself and finishes it, with every number dialled exactly once."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gateway.emulators.realtime import RealtimeEmulator, Script
from gateway.emulators.stack import OPENAI_KEY, OfflineStack, offline_stack
from gateway.emulators.twilio import TwilioCall, TwilioEmulator
from tests.hardening.served import Served, serve_process
from tests.integration.campaign_rig import campaign_reaches, create_campaign, prospects_hang_up
from tests.integration.outbound_rig import OUTBOUND_SETTINGS
from tests.integration.twilio_rig import ACCOUNT_SID, AUTH_TOKEN

NUMBERS = [f"+8190123460{n:02d}" for n in range(8)]


@contextlib.asynccontextmanager
async def gateway_process(stack: OfflineStack, tmp_path: Path, twilio_url: str, name: str) -> AsyncIterator[Served]:
    """``voice-gateway serve`` on the store in ``tmp_path``, its Twilio line on the emulator; stopped with SIGTERM."""
    extra = {"twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN, "twilio_api_base": twilio_url, "twilio_audio": "pcm", **OUTBOUND_SETTINGS}
    env = {k.upper(): str(v) for k, v in extra.items()}
    async with serve_process(stack, tmp_path, drain_timeout_s=10, env=env, log_name=f"{name}.log", graceful_s=30) as served:
        yield served


async def test_a_stopped_and_restarted_gateway_process_finishes_the_campaign(tmp_path: Path) -> None:
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script(steps=[]))
    twilio = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, ring_delay_s=0.05)
    async with offline_stack(realtime=realtime) as stack, twilio.serve() as twilio_url:

        def new_call(seen: set[str]) -> Any:
            return twilio.wait_for_call(lambda c: c.sid not in seen, 120)

        async def talk(call: TwilioCall) -> None:
            await call.wait_for(lambda c: c.status.terminal or (c.stream is not None and c.stream.connected), 30)
            if not call.status.terminal:
                await call.hang_up()

        text = "phone,name\n" + "".join(f"{n},客{i}\n" for i, n in enumerate(NUMBERS))
        body = {"call_list": text, "carrier": "twilio", "concurrency": 2, "retries": 0, "hours": None}
        async with prospects_hang_up(new_call, lambda c: c.sid, talk):
            async with gateway_process(stack, tmp_path, twilio_url, "first") as first:
                status, created = await create_campaign(first.url, body)
                assert status == 201, created
                campaign_id = created["id"]
                stopped_at = await campaign_reaches(first.url, campaign_id, lambda c: c["done"] >= 2, 60)
            assert first.process.returncode == 0, first.output()[-3000:]
            assert stopped_at["status"] == "running"
            async with gateway_process(stack, tmp_path, twilio_url, "second") as second:
                found = await campaign_reaches(second.url, campaign_id, lambda c: c["status"] == "done", 90)
            assert "campaign " + campaign_id in second.output()  # the new process picked it up by itself
        dialled = Counter(c.to for c in twilio.calls.values())
        assert set(dialled) == set(NUMBERS) and set(dialled.values()) == {1}, dialled  # every number, none twice
        assert [r["attempts"] for r in found["rows"]] == [1] * len(NUMBERS)
        assert found["done"] == len(NUMBERS) and found["live"] == 0
        cut = [r for r in found["rows"] if r["outcome"] != "answered"]
        assert all("gateway stopped" in r["reason"] for r in cut), cut  # a call cut by the stop is not dialled again
