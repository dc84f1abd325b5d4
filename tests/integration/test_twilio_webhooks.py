"""The Twilio line through its real routes: signed webhooks answered with TwiML, pre-warm, status callbacks in any
order, the signed single-use media socket; forged requests refused with nothing happening."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import aiohttp
import pytest

from gateway.emulators.acs import Silence
from gateway.emulators.realtime import Say, Script
from tests.integration.phone_rig import running_call_tasks
from tests.integration.twilio_rig import ACCOUNT_SID, call_sid, stream_of, twilio_rig

GREETING = "お電話ありがとうございます。サポートデスクです。ご用件をお話しください。"


async def wait_until(check, timeout: float = 10.0, what: str = "condition"):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)
    return value


async def test_voice_url_answers_greeting_stream_hangup_and_prewarms(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script(steps=[Say("はい、承知しました。")])) as rig:
        status, twiml = await rig.incoming_call(call_sid(1))
        assert status == 200
        root = ET.fromstring(twiml)
        assert [child.tag for child in root] == ["Say", "Connect", "Hangup"]
        say = root.find("Say")
        assert say.text == GREETING and say.attrib == {"language": "ja-JP", "voice": "Polly.Mizuki"}
        url, parameters = stream_of(twiml)
        key = next(iter(rig.line.calls))
        assert url.startswith(f"{rig.url.replace('http://', 'ws://')}/ws/twilio/{key}/") and "?" not in url
        assert set(parameters) == {"token"} and parameters["token"]
        # pre-warm: the Realtime session opens while the greeting plays, before any media socket
        session = await rig.realtime.wait_for_session(1, timeout=5)
        assert not rig.line.calls[key].media_connected.is_set()
        assert session.closed is False
        # Twilio asking again (a retry) gets the same call, not a second one
        status, again = await rig.incoming_call(call_sid(1))
        assert status == 200 and stream_of(again) == (url, parameters) and len(rig.line.calls) == 1
        assert (await rig.status(call_sid(1), "completed", 3))[0] == 204
        await wait_until(lambda: not rig.line.calls, 5, "the call ended")
        await wait_until(lambda: session.closed, 5, "the Realtime session closed")


@pytest.mark.parametrize("forgery", ["missing", "wrong token", "tampered parameter", "other url"])
async def test_forged_voice_webhooks_get_403_and_nothing_happens(tmp_path, forgery: str) -> None:
    async with twilio_rig(tmp_path, Script()) as rig:
        params = [("CallSid", call_sid(2)), ("From", "+819000000000"), ("To", "+81501234567")]
        url = rig.url + "/api/twilio/voice"
        if forgery == "missing":
            status, _ = await rig.post("/api/twilio/voice", params, signed=False)
        elif forgery == "wrong token":
            from twilio.request_validator import RequestValidator

            bad = RequestValidator("not-the-token").compute_signature(url, dict(params))
            status, _ = await rig.post("/api/twilio/voice", params, signature=bad)
        elif forgery == "tampered parameter":
            good = rig.sign(url, dict(params))
            status, _ = await rig.post("/api/twilio/voice", [*params[:1], ("From", "+819999999999"), params[2]], signature=good)
        else:
            status, _ = await rig.post("/api/twilio/voice", params, signature=rig.sign(url + "?x=1", dict(params)))
        assert status == 403
        assert rig.line.calls == {} and rig.realtime.live_sessions() == []
        assert not [t for t in rig.gw.tasks if t.get_name().startswith("prewarm")]
        assert rig.gw.hub.live_sessions() == []


async def test_repeated_form_keys_are_signed_and_checked(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script()) as rig:
        params = [("CallSid", call_sid(3)), ("From", "+819000000000"), ("StirVerstat", "A"), ("StirVerstat", "B")]
        status, _ = await rig.post("/api/twilio/voice", params)
        assert status == 200 and len(rig.line.calls) == 1
        status, _ = await rig.post("/api/twilio/status", [("CallSid", call_sid(3)), ("CallStatus", "completed"), ("X", "1"), ("X", "2")],
                                   signature=rig.sign(rig.url + "/api/twilio/status", {"CallSid": call_sid(3), "CallStatus": "completed", "X": "1"}))
        assert status == 403  # one of the repeated values left out of the signature
        assert len(rig.line.calls) == 1


async def test_status_callbacks_in_any_order_end_the_call_once_and_never_bring_it_back(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script()) as rig:
        sid = call_sid(4)
        _, twiml = await rig.incoming_call(sid)
        key = next(iter(rig.line.calls))
        session_id = rig.line.calls[key].session_id
        assert (await rig.status(sid, "in-progress", 2))[0] == 204
        assert (await rig.status(sid, "completed", 4))[0] == 204
        await wait_until(lambda: not rig.line.calls, 5, "the call ended")
        # late and repeated callbacks: an earlier ringing, the completed again, a stray in-progress
        for status, sequence in (("ringing", 1), ("completed", 4), ("in-progress", 3)):
            assert (await rig.status(sid, status, sequence))[0] == 204
        assert rig.line.calls == {}
        assert (await rig.status(sid, "completed", 5))[0] == 204 and rig.line.calls == {}
        await wait_until(lambda: not running_call_tasks(rig.gw), 5, "nothing of the call left running")
        await rig.gw.writer.flush(timeout=5)
        record = await rig.gw.store.conversation(session_id)
        assert record is not None and record["ended_at"] and record["outcome"] == "caller_hung_up"
        # the ended call's media URL is spent
        url, _ = stream_of(twiml)
        probe = await rig.twilio.probe_stream(url)
        assert not probe.accepted and probe.status == 410
        # and a status callback without a signature changes nothing
        assert (await rig.post("/api/twilio/status", [("CallSid", sid), ("CallStatus", "in-progress")], signed=False))[0] == 403


async def test_forged_and_replayed_media_sockets_are_refused(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script(steps=[Say("はい。")])) as rig:
        sid = call_sid(5)
        _, twiml = await rig.incoming_call(sid)  # the Voice URL only: no stream connects yet
        url, _ = stream_of(twiml)
        key = next(iter(rig.line.calls))
        for probe in (
            await rig.twilio.probe_stream(url, signed=False),
            await rig.twilio.probe_stream(url, token="not-the-auth-token"),
            await rig.twilio.probe_stream(url.rsplit("/", 1)[0] + "/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),  # not our key's token
        ):
            assert not probe.accepted and probe.status == 403, probe
        assert not rig.line.calls[key].media_connected.is_set()  # nothing was bridged

        call = await rig.call([Silence(3000)])  # a real call: its stream connects and bridges
        await call.wait_for(lambda c: c.stream is not None and c.stream.connected, 10)
        live = next(c for c in rig.line.calls.values() if c.connection_id == call.sid)
        await wait_until(lambda: live.conversation is not None, 10, "the call bridged")
        replay = await rig.twilio.probe_stream(call.stream.url)  # the same signed URL again while the call is live
        assert not replay.accepted and replay.status == 409
        assert await call.hang_up() == "completed"
        await wait_until(lambda: live.call_key not in rig.line.calls, 5, "the call ended with its stream")
        replay = await rig.twilio.probe_stream(call.stream.url)
        assert not replay.accepted and replay.status == 410


async def test_a_wrong_stream_parameter_closes_the_socket_before_anything_is_bridged(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script(steps=[Say("はい。")])) as rig:
        sid = call_sid(6)
        _, twiml = await rig.incoming_call(sid)
        url, _ = stream_of(twiml)
        start = {"streamSid": "MZ" + "8" * 32, "callSid": sid, "accountSid": ACCOUNT_SID, "customParameters": {"token": "forged"}}
        async with aiohttp.ClientSession() as http, http.ws_connect(url, headers={"X-Twilio-Signature": rig.sign(url)}) as ws:
            await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await ws.send_json({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": start["streamSid"]})
            message = await asyncio.wait_for(ws.receive(), 5)
            assert message.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1008  # closed, nothing sent first
        key = next(iter(rig.line.calls), None)
        assert key is None or rig.line.calls[key].conversation is None


async def test_a_call_whose_stream_never_connects_is_ended(tmp_path, monkeypatch) -> None:
    """No status callback configured and the caller hangs up during the greeting: the call still ends."""
    monkeypatch.setattr("channels.twilio.calls.STREAM_WAIT_S", 0.5)
    async with twilio_rig(tmp_path, Script()) as rig:
        await rig.incoming_call(call_sid(8))
        session = await rig.realtime.wait_for_session(1)
        await wait_until(lambda: not rig.line.calls, 5, "the call ended")
        await wait_until(lambda: session.closed, 5, "its Realtime session closed")
        assert not rig.gw.hub.live_sessions()
        await wait_until(lambda: not running_call_tasks(rig.gw), 5, "nothing of the call left running")
