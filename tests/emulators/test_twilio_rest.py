"""The Twilio emulator's REST API driven by the official ``twilio`` SDK (async and sync clients pointed at loopback
with ``client.api.base_url``), with the fake gateway (``twilio_peer``) receiving the signed webhooks."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from gateway.emulators.twilio import StatusCallbackDisorder, TwilioEmulator
from tests.emulators.twilio_peer import FakeGateway, stream_twiml, twilio_world

CALLEE = "+819011112222"
NO_ENV = {"TWILIO_EDGE": ""}  # a non-empty mapping, so the SDK does not read os.environ for edge/region
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture
async def world() -> AsyncIterator[Callable[..., Any]]:
    async with twilio_world() as make:
        yield make


@pytest.fixture
async def sdk() -> AsyncIterator[Callable[..., Client]]:
    """``sdk(emu, token=None)`` → an async-capable ``Client`` whose requests go to the emulator."""
    clients: list[AsyncTwilioHttpClient] = []

    def make(emu: TwilioEmulator, token: str | None = None) -> Client:
        http_client = AsyncTwilioHttpClient()
        clients.append(http_client)
        client = Client(
            emu.config.account_sid, token or emu.config.auth_token, http_client=http_client, environment=NO_ENV
        )
        client.api.base_url = emu.base_url
        return client

    yield make
    for http_client in clients:
        await http_client.close()


def status_callbacks(gw: FakeGateway) -> list[dict[str, str]]:
    return [params for path, params, ok in gw.webhooks if path == "/status" and ok]


async def test_outbound_call_streams_then_is_transferred_by_a_twiml_update(world: Callable[..., Any], sdk: Any) -> None:
    emu, gw = await world(stream_twiml())
    client = sdk(emu)
    created = await client.calls.create_async(
        to=CALLEE,
        from_=emu.config.twilio_number,
        url=f"{gw.base}/outbound",
        status_callback=f"{gw.base}/status",
        status_callback_event=ALL_EVENTS,
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=f"{gw.base}/amd",
        timeout=25,
    )
    assert created.sid.startswith("CA") and created.status == "queued" and created.direction == "outbound-api"
    call = emu.calls[created.sid]
    session = await gw.session()
    voice = next(p for path, p, _ in gw.webhooks if path == "/outbound")
    assert voice["Direction"] == "outbound-api" and voice["CallStatus"] == "in-progress" and voice["To"] == CALLEE
    amd = await gw.wait(lambda: next((p for path, p, _ in gw.webhooks if path == "/amd"), None), what="AMD")
    assert amd["AnsweredBy"] == "human" and amd["CallSid"] == created.sid
    fetched = await client.calls(created.sid).fetch_async()
    assert fetched.status == "in-progress" and fetched.answered_by == "human"

    dial = (
        f'<Response><Dial callerId="+815012345678" action="{gw.base}/dial-result">'
        "<Number>+819033334444</Number></Dial></Response>"
    )
    updated = await client.calls(created.sid).update_async(twiml=dial)
    assert updated.sid == created.sid
    await gw.wait(lambda: session.events("stop"), what="stop after the update")
    assert await call.ended(5.0) == "completed"
    assert [t.targets for t in call.transfers] == [("+819033334444",)] and call.transfers[0].caller_id
    assert [e.verb for e in call.twiml_log] == ["Connect", "Dial"] and not call.errors
    result = next(p for path, p, ok in gw.webhooks if path == "/dial-result" and ok)
    assert result["DialCallStatus"] == "completed" and result["DialCallSid"] == call.transfers[0].child_call_sid
    with pytest.raises(TwilioRestException) as ended:
        await client.calls(created.sid).update_async(twiml=dial)
    assert ended.value.status == 400 and ended.value.code == 21220
    await gw.wait(lambda: len(status_callbacks(gw)) == 4, what="four status callbacks")
    by_sequence = sorted(status_callbacks(gw), key=lambda p: int(p["SequenceNumber"]))
    assert [p["CallStatus"] for p in by_sequence] == ["initiated", "ringing", "in-progress", "completed"]


async def test_rest_hang_up_and_errors(world: Callable[..., Any], sdk: Any) -> None:
    emu, gw = await world(stream_twiml())
    client = sdk(emu)
    call = await emu.incoming_call(f"{gw.base}/voice")
    session = await gw.session()
    done = await client.calls(call.sid).update_async(status="completed")
    assert done.sid == call.sid
    assert await call.ended(5.0) == "completed" and call.ended_by == "api"
    assert session.events("stop") and (await client.calls(call.sid).fetch_async()).status == "completed"

    with pytest.raises(TwilioRestException) as missing:
        await client.calls("CA" + "0" * 32).fetch_async()
    assert missing.value.status == 404 and missing.value.code == 20404
    with pytest.raises(TwilioRestException) as bad_to:
        await client.calls.create_async(to="0312345678", from_=emu.config.twilio_number, url=f"{gw.base}/outbound")
    assert bad_to.value.status == 400 and bad_to.value.code == 21211
    with pytest.raises(TwilioRestException) as unauthorised:
        await sdk(emu, token="0" * 32).calls.create_async(to=CALLEE, from_="+815012345678", url=f"{gw.base}/x")
    assert unauthorised.value.status == 401 and unauthorised.value.code == 20003
    assert [(r.status, r.authenticated) for r in emu.requests][-3:] == [(404, True), (400, True), (401, False)]
    assert len(emu.calls) == 1


async def test_messages_through_the_async_and_sync_clients(world: Callable[..., Any], sdk: Any) -> None:
    emu, gw = await world(stream_twiml())
    sent = await sdk(emu).messages.create_async(
        to=CALLEE, from_=emu.config.twilio_number, body="予約番号は 1234 です", status_callback=f"{gw.base}/sms"
    )
    assert sent.sid.startswith("SM") and sent.status == "queued"
    sync_client = Client(emu.config.account_sid, emu.config.auth_token, environment=NO_ENV)
    sync_client.api.base_url = emu.base_url
    second = await asyncio.to_thread(sync_client.messages.create, to=CALLEE, from_="+815012345678", body="again")
    assert [(m.sid, m.to, m.body) for m in emu.messages] == [
        (sent.sid, CALLEE, "予約番号は 1234 です"),
        (second.sid, CALLEE, "again"),
    ]
    assert emu.messages[0].status_callback == f"{gw.base}/sms"
    await gw.wait(lambda: len([p for path, p, _ in gw.webhooks if path == "/sms"]) == 2, what="sms callbacks")
    sms = [(p["MessageSid"], p["MessageStatus"], ok) for path, p, ok in gw.webhooks if path == "/sms"]
    assert sms == [(sent.sid, "sent", True), (sent.sid, "delivered", True)]
    async with aiohttp.ClientSession() as http, http.get(f"{emu.base_url}/2010-04-01/Nothing.json") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 20404
    with pytest.raises(TwilioRestException) as no_body:
        await sdk(emu).messages.create_async(to=CALLEE, from_=emu.config.twilio_number)
    assert no_body.value.code == 21602


async def test_space_separated_events_and_a_busy_callee(world: Callable[..., Any]) -> None:
    emu, gw = await world(stream_twiml())
    emu.set_outbound_outcome(CALLEE, "busy")
    auth = aiohttp.BasicAuth(emu.config.account_sid, emu.config.auth_token)
    form = {
        "To": CALLEE,
        "From": emu.config.twilio_number,
        "Url": f"{gw.base}/outbound",
        "StatusCallback": f"{gw.base}/status",
        "StatusCallbackEvent": "initiated ringing answered completed",
    }
    url = f"{emu.base_url}/2010-04-01/Accounts/{emu.config.account_sid}/Calls.json"
    async with aiohttp.ClientSession() as http, http.post(url, data=form, auth=auth) as resp:
        assert resp.status == 201
        sid = (await resp.json())["sid"]
    assert await emu.calls[sid].ended(5.0) == "busy"
    await gw.wait(lambda: len(status_callbacks(gw)) == 3, what="three callbacks")
    statuses = [p["CallStatus"] for p in sorted(status_callbacks(gw), key=lambda p: int(p["SequenceNumber"]))]
    assert statuses == ["initiated", "ringing", "busy"] and not gw.sessions
    assert not any(path == "/outbound" for path, _, _ in gw.webhooks)  # nobody answered: no TwiML fetched


async def test_status_callbacks_can_be_disorderly(world: Callable[..., Any], sdk: Any) -> None:
    disorder = StatusCallbackDisorder(duplicate=True, reorder=True, reorder_window_s=0.3)
    emu, gw = await world(stream_twiml(), status_callbacks=disorder)
    created = await sdk(emu).calls.create_async(
        to=CALLEE,
        from_=emu.config.twilio_number,
        twiml="<Response><Say>Hello</Say><Hangup/></Response>",
        status_callback=f"{gw.base}/status",
        status_callback_event=ALL_EVENTS,
    )
    await emu.calls[created.sid].ended(5.0)
    await gw.wait(lambda: len(status_callbacks(gw)) == 8, what="eight deliveries")
    arrival = [int(p["SequenceNumber"]) for p in status_callbacks(gw)]
    assert Counter(arrival) == {0: 2, 1: 2, 2: 2, 3: 2}
    assert arrival != sorted(arrival)
    final = next(p for p in status_callbacks(gw) if p["SequenceNumber"] == "3")
    assert final["CallStatus"] == "completed" and int(final["CallDuration"]) >= 0


async def test_no_answer_after_the_ring_timeout(world: Callable[..., Any], sdk: Any) -> None:
    emu, gw = await world(stream_twiml())
    emu.set_outbound_outcome(CALLEE, "no-answer")
    created = await sdk(emu).calls.create_async(
        to=CALLEE, from_=emu.config.twilio_number, url=f"{gw.base}/outbound", timeout=1
    )
    call = emu.calls[created.sid]
    assert await call.ended(5.0) == "no-answer"
    rang = next(t for s, t in call.status_log if s == "ringing")
    assert call.status_log[-1][1] - rang >= 0.95


async def test_synchronous_amd_puts_answered_by_on_the_voice_webhook(world: Callable[..., Any], sdk: Any) -> None:
    emu, gw = await world(stream_twiml())
    emu.set_outbound_outcome(CALLEE, "answer", answered_by="machine_end_beep")
    created = await sdk(emu).calls.create_async(
        to=CALLEE, from_=emu.config.twilio_number, url=f"{gw.base}/outbound", machine_detection="DetectMessageEnd"
    )
    await gw.session()
    voice = next(p for path, p, ok in gw.webhooks if path == "/outbound" and ok)
    assert voice["AnsweredBy"] == "machine_end_beep" and voice["CallSid"] == created.sid
    assert await emu.calls[created.sid].hang_up() == "completed"
