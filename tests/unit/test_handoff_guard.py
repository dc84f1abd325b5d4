"""Handoff codes cannot be brute-forced and are claimed once (issue 9, point 2): after 10 wrong codes from a session
or a client, claims are refused for a while (429 on the tool endpoint, ``too_many_attempts`` for the model), logged
with the session id; a code has exactly one winner, even between two store connections claiming at once."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.handoff import MAX_FAILED_CLAIMS, Handoffs
from gateway.hub import SessionInfo
from gateway.store import Store
from tests.conftest import make_settings


async def test_wrong_codes_lock_out_the_session_and_its_client(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(make_settings(tmp_path))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        gw = app.extensions["gateway"]
        await gw.store.start_conversation("web-victim", "webrtc", "support-desk", "browser", 1.9e9)
        code = await gw.handoffs.issue("web-victim")
        wrong = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c != code)

        async def claim(session_id: str, guess: str):
            auth = {"Authorization": f"Bearer {gw.tokens.mint(session_id, 'support-desk')}"}
            body = {"session_id": session_id, "arguments": {"code": guess}}
            return await client.post("/api/tools/continue_conversation", json=body, headers=auth)

        gw.hub.open(SessionInfo("web-attacker", "webrtc", "support-desk", caller="203.0.113.66"))
        for _ in range(MAX_FAILED_CLAIMS):
            refused = await claim("web-attacker", wrong)
            assert refused.status_code == 200 and (await refused.get_json())["output"]["error"]["code"] == "failed"
        with caplog.at_level(logging.WARNING, logger="gateway.handoff"):
            locked = await claim("web-attacker", code)  # even the right code: the session is locked out
        assert locked.status_code == 429
        error = (await locked.get_json())["output"]["error"]
        assert error["code"] == "too_many_attempts" and "apologise" in error["message"].lower()
        assert any("web-attacker" in r.getMessage() for r in caplog.records)
        # a new session from the same client is locked out too
        gw.hub.open(SessionInfo("web-attacker-2", "webrtc", "support-desk", caller="203.0.113.66"))
        assert (await claim("web-attacker-2", code)).status_code == 429
        # someone else still redeems the code
        gw.hub.open(SessionInfo("web-owner", "webrtc", "support-desk", caller="198.51.100.5"))
        await gw.writer.flush(timeout=5)  # the hub's writer records the conversation (racing it with a second insert failed)
        ok = await claim("web-owner", code)
        assert ok.status_code == 200 and (await ok.get_json())["output"]["continued_from"] == "web-victim"


async def test_the_lock_out_passes(tmp_path: Path) -> None:
    now = [0.0]
    store = Store(make_settings(tmp_path).database_url)
    await store.open()
    try:
        handoffs = Handoffs(store, clock=lambda: now[0])
        for _ in range(MAX_FAILED_CLAIMS):
            assert await handoffs.claim("000000", "phone-x", "+819000000000") is None
        with pytest.raises(Exception, match="too many"):
            await handoffs.claim("000000", "phone-x")
        now[0] += 15 * 60 + 1
        assert await handoffs.claim("000000", "phone-x", "+819000000000") is None  # counted again, not refused
    finally:
        await store.close()


async def test_a_code_has_one_winner_between_two_connections(tmp_path: Path) -> None:
    """Two stores on one database stand for two worker processes; every claimant races for the same code."""
    url = make_settings(tmp_path).database_url
    first, second = Store(url), Store(url)
    await first.open()
    await second.open()
    try:
        await first.start_conversation("web-src", "webrtc", "support-desk", "browser", 1.9e9)
        for round_ in range(5):
            code = await Handoffs(first).issue("web-src")
            claimants = [f"phone-{round_}-{i}" for i in range(8)]
            for claimant in claimants:
                await first.start_conversation(claimant, "phone", "support-desk", "+81", 1.9e9)
            stores = [first, second] * 4
            won = await asyncio.gather(*(s.claim_handoff(code, c) for s, c in zip(stores, claimants, strict=True)))
            assert [w for w in won if w is not None] == ["web-src"], won
            linked = [c for c in claimants if (await first.conversation(c))["continued_from"] == "web-src"]
            assert len(linked) == 1
    finally:
        await first.close()
        await second.close()
