"""The call owner records and the media URL's single use, across two processes sharing a real Redis (two gateways
stand for two workers): a call is found owned by the process that answered it, ended on one is ended on both,
and its media URL is accepted once wherever it lands. Without Redis, nothing is recorded (one process)."""

from __future__ import annotations

from pathlib import Path

from channels.telephony.registry import LiveCalls, new_call_key
from gateway.hub import SessionInfo
from gateway.shared.owners import CallOwners
from gateway.shared.remote import RemoteSessions
from tests.shared.test_consumers import gw, two_gateways

A, B = "http://127.0.0.1:1001", "http://127.0.0.1:1002"


def line(app) -> LiveCalls:  # type: ignore[no-untyped-def]
    return LiveCalls(gw(app), control=None, purpose="acs")  # type: ignore[arg-type]  # no call control needed here


async def test_a_call_is_owned_by_the_process_that_answered_and_ended_everywhere(tmp_path: Path, redis_url: str) -> None:
    async with two_gateways(tmp_path, redis_url=redis_url) as (first, second):
        gw(first).owners.peer_url, gw(second).owners.peer_url = A, B
        key = new_call_key()
        await gw(first).owners.own(key, "sid:CA1")
        assert await gw(first).owners.elsewhere(key) is None  # its own call: handled here
        assert await gw(second).owners.elsewhere(key) == A
        assert await gw(second).owners.elsewhere("sid:CA1") == A
        assert not await gw(second).owners.has_ended(key)

        await line(first).end(key, "caller_hung_up", "sid:CA1")
        assert await gw(second).owners.has_ended(key)
        assert await gw(second).owners.elsewhere(key) is None and await gw(second).owners.elsewhere("sid:CA1") is None
        assert await line(second).media_refusal_everywhere(key) == (410, "the call has ended")


async def test_a_media_url_is_accepted_once_whichever_process_it_reaches(tmp_path: Path, redis_url: str) -> None:
    async with two_gateways(tmp_path, redis_url=redis_url) as (first, second):
        key = new_call_key()
        assert await line(first).media_refusal_everywhere(key) is None
        assert await line(second).media_refusal_everywhere(key) == (409, "the call's media socket is already connected")
        assert await line(first).media_refusal_everywhere(key) == (409, "the call's media socket is already connected")


async def test_without_redis_nothing_is_recorded(tmp_path: Path) -> None:
    async with two_gateways(tmp_path) as (first, second):
        owners: CallOwners = gw(first).owners
        owners.peer_url = A
        key = new_call_key()
        await owners.own(key)
        assert not owners.active and await gw(second).owners.elsewhere(key) is None
        assert await line(first).media_refusal_everywhere(key) is None
        assert await line(second).media_refusal_everywhere(key) is None  # each process alone, as with one worker


def test_the_least_loaded_live_process_with_room_gets_a_new_call() -> None:
    now = [0.0]
    remote = RemoteSessions(clock=lambda: now[0])
    remote.beat("w1", [SessionInfo("phone-a", "phone", "x", ""), SessionInfo("web-b", "webrtc", "x", "")], 6.0, A)
    remote.beat("w2", [SessionInfo("phone-c", "phone", "x", ""), SessionInfo("phone-d", "phone", "x", "")], 6.0, B)
    remote.beat("w3", [], 6.0)  # a process without a peer listener cannot be handed a call
    assert remote.least_loaded_peer(("phone",), limit=2) == A  # WebRTC audio does not pass through: not counted
    assert remote.least_loaded_peer(("phone",), limit=1) is None  # every process is full
    now[0] = 7.0  # both stopped renewing: gone
    assert remote.least_loaded_peer(("phone",), limit=5) is None
