"""A whole phone call through the real ACS and openai SDKs against the emulators."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np
import pytest

from gateway.audio import read_wav, resample, rms
from gateway.emulators.acs import Silence, send_subscription_validation
from gateway.emulators.realtime import CallTool, Say, Script
from tests.conftest import speech, speech_text
from tests.integration.phone_rig import DIALECTS, phone_rig, running_call_tasks

RESERVATION = {
    "locationId": "tokyo-station",
    "startDate": "2031-03-01T10:00",
    "endDate": "2031-03-01T18:00",
    "customerName": "山田 太郎",
    "vehicleType": "compact",
}

DIALECT_PATHS = {
    "openai-ga": ("/v1/realtime", "ga"),
    "azure-ga": ("/openai/v1/realtime", "ga"),
    "azure-preview": ("/openai/realtime", "beta"),
}


def reservation_script() -> Script:
    return Script(
        steps=[CallTool("create_reservation", RESERVATION, then=Say("ご予約番号は{output[reservation_number]}です。"))],
        user_transcripts=[speech_text("ja_reserve_car")],
    )


async def wait_until(check, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_whole_call_at_24khz(tmp_path, dialect: str) -> None:
    """The whole call on every provider dialect the README names: OpenAI GA, Azure GA and Azure preview (beta)."""
    async with phone_rig(tmp_path, reservation_script(), dialect=dialect) as rig:
        assert (await send_subscription_validation(rig.incoming_url)).ok
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_reserve_car"))
        assert call.incoming_response.status == 200

        # answered with the right media options; greeting played before streaming started
        answer = call.answer_body
        media = answer["mediaStreamingOptions"]
        assert media["transportType"] == "websocket" and media["audioFormat"] == "pcm24KMono"
        assert media["enableBidirectional"] is True and media["startMediaStreaming"] is False
        assert media["transportUrl"].startswith("ws://127.0.0.1") and "token=" in media["transportUrl"]
        assert "token=" in answer["callbackUri"]
        await call.wait_for("MediaStreamingStarted", 10)
        ops = rig.acs.operations(call.call_connection_id)
        assert ops.index("play") < ops.index("startMediaStreaming")
        greeting = rig.acs.requests_for("play")[0].body["playSources"][0]["text"]["text"]
        assert greeting == rig.gw.profile().greeting

        # the tool call round-trips and its result is spoken back
        session = await rig.realtime.wait_for_session(1)
        assert (session.path, session.dialect.value) == DIALECT_PATHS[dialect]
        await session.wait_for(lambda s: s.function_call_outputs, timeout=15)
        await session.wait_for(lambda s: len([r for r in s.responses if r.status == "completed"]) >= 2, timeout=15)
        number = rig.realtime.sessions[0].function_call_outputs[0].output
        assert '"reservation_number": "R-' in number
        await wait_until(lambda: call.timeline and len(call.timeline.received) > 20, 10)
        await asyncio.sleep(1.0)
        await call.hang_up()

        # caller speech reached the model sample for sample (24 kHz end to end, no resampling)
        sent = read_wav(speech("ja_reserve_car")).pcm
        assert session.received_audio.find(sent) >= 0
        # agent audio reached the caller in 20 ms frames of the negotiated format, and it is speech
        frames = call.timeline.received
        assert {len(f.pcm) for f in frames} == {960}
        assert rms(call.received_pcm()) > 300

        # hang-up leaves nothing running and a complete record
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        await rig.gw.writer.flush()
        [conversation] = await rig.gw.store.search_conversations(channel="phone")
        record = await rig.gw.store.conversation(conversation["id"])
        assert record["caller"] == "+819012345678" and record["ended_at"] and record["summary"]
        roles = [t["role"] for t in record["turns"]]
        assert roles[0] == "assistant" and "user" in roles
        assert any(t["text"] == speech_text("ja_reserve_car") for t in record["turns"])
        assert any("ご予約番号はR-" in t["text"] for t in record["turns"])
        [tool_call] = record["tool_calls"]
        assert tool_call["name"] == "create_reservation" and tool_call["ok"]
        reservation_number = tool_call["result"].split('"reservation_number": "')[1][:6]
        assert (await rig.gw.store.reservation(reservation_number))["conversation_id"] == conversation["id"]
        assert running_call_tasks(rig.gw) == []
        assert rig.realtime.sessions[0].closed


async def test_16khz_calls_are_resampled_both_ways(tmp_path) -> None:
    async with phone_rig(tmp_path, Script.replies("はい、承ります。"), acs_audio_format="pcm16k") as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_reserve_car", 16))
        media = call.answer_body["mediaStreamingOptions"]
        assert media["audioFormat"] == "pcm16KMono"
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", timeout=15)
        await wait_until(lambda: call.timeline and len(call.timeline.received) > 10, 10)
        await asyncio.sleep(0.5)
        await call.hang_up()
        # the model got 24 kHz audio that matches a real resampling of what the caller said
        wav16 = read_wav(speech("ja_reserve_car", 16)).pcm
        expected = np.frombuffer(resample(wav16, 16000, 24000), dtype="<i2").astype(np.float64)
        got = np.frombuffer(session.received_audio, dtype="<i2").astype(np.float64)
        corr = np.correlate(got[: len(got)], expected[:4800], mode="valid")
        offset = int(np.argmax(corr))
        segment = got[offset : offset + len(expected)]
        similarity = np.dot(segment, expected) / (np.linalg.norm(segment) * np.linalg.norm(expected))
        assert similarity > 0.99
        assert {len(f.pcm) for f in call.timeline.received} == {640}
        assert rms(call.received_pcm()) > 300


@pytest.mark.parametrize("forged", ["no-token", "bad-token", "bad-jwt"])
async def test_forged_callbacks_and_media_sockets_are_refused(tmp_path, forged: str) -> None:
    from gateway.emulators.acs import ForgedToken

    async with phone_rig(tmp_path, Script.replies("はい。")) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))
        await call.wait_for("MediaStreamingStarted", 10)
        url = call.callback_uri
        base, _, query = url.partition("?")
        if forged == "no-token":
            target, token = base, rig.acs.issuer.callback_token()
        elif forged == "bad-token":
            target, token = base + "?token=guess&agent=support-desk", rig.acs.issuer.callback_token()
        else:
            target, token = url, rig.acs.issuer.forge(ForgedToken.WRONG_KEY)
        status = await rig.acs.send_callback(call, "CallDisconnected", token=token, url=target)
        assert status == 401
        assert rig.gw.hub.live_sessions(), "a forged hang-up must not end the call"
        transport = call.answer_body["mediaStreamingOptions"]["transportUrl"]
        if forged == "bad-jwt":
            probe = await rig.acs.probe_media(call, token=rig.acs.issuer.forge(ForgedToken.WRONG_AUDIENCE), url=transport)
        else:
            probe = await rig.acs.probe_media(call, token=rig.acs.issuer.media_token(), url=transport.split("?")[0] + ("?token=guess" if forged == "bad-token" else ""))
        assert not probe.accepted and probe.status == 401
        await call.hang_up()


async def test_a_replayed_media_url_is_refused(tmp_path) -> None:
    """A media URL is good for one socket while its call lives: a second socket (a copied URL) gets 409, the URL
    of an ended call 410, and a validly signed URL minted long ago 403; none opens a Realtime session."""
    from channels.telephony.registry import MEDIA_CONNECT_WINDOW_S, new_call_key

    async with phone_rig(tmp_path, Script.replies("はい。")) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(3000)])
        await call.wait_for("MediaStreamingStarted", 10)
        await rig.realtime.wait_for_session(1)
        transport = call.answer_body["mediaStreamingOptions"]["transportUrl"]
        await wait_until(lambda: call.timeline and call.timeline.sent_count > 5, 10)
        second = await rig.acs.probe_media(call, token=rig.acs.issuer.media_token(), url=transport)
        assert not second.accepted and second.status == 409
        assert rig.gw.hub.live_sessions(), "the call goes on"
        await call.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        after = await rig.acs.probe_media(call, token=rig.acs.issuer.media_token(), url=transport)
        assert not after.accepted and after.status == 410

        old_key = new_call_key(now=time.time() - MEDIA_CONNECT_WINDOW_S - 5)
        old_url = f"{rig.url.replace('http://', 'ws://')}/ws/acs/{old_key}?token={rig.gw.signer.sign('acs', old_key)}"
        stale = await rig.acs.probe_media(call, token=rig.acs.issuer.media_token(), url=old_url)
        assert not stale.accepted and stale.status == 403
        assert len(rig.realtime.sessions) == 1 and not rig.gw.hub.live_sessions()


async def test_prompt_chaining_moves_the_live_session_to_the_next_step(tmp_path) -> None:
    async with phone_rig(tmp_path, reservation_script(), agent="rent-a-car") as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_reserve_car"))
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.function_call_outputs, timeout=15)
        await session.wait_for(lambda s: len(s.instructions_history) >= 2, timeout=5)
        first, latest = session.instructions_history[0], session.instructions_history[-1]
        assert "Step gather" in first and "Step close" not in first
        assert "Step close" in latest and "Step gather" not in latest
        assert "レンタカー" in latest  # the common part stays
        await call.hang_up()


async def test_a_profile_can_let_the_agent_speak_first(tmp_path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "opener.md").write_text(
        "---\nname: opener\ngreeting: はい、配車センターです。\ngreeting_mode: agent\ntools: []\n---\n# 役割\nテスト用。\n", encoding="utf-8"
    )
    async with phone_rig(tmp_path, Script.replies("はい、配車センターです。"), agent="opener", agents_dir=agents) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.responses, timeout=10)
        assert "play" not in rig.acs.operations(call.call_connection_id)
        assert session.responses[0].trigger == "response.create"
        assert "はい、配車センターです。" in (session.responses[0].instructions or "")
        await wait_until(lambda: call.timeline and call.timeline.received, 10)
        await call.hang_up()


async def test_past_its_capacity_the_gateway_rejects_calls_as_busy(tmp_path) -> None:
    """MAX_MEDIA_SESSIONS sized from the benchmark: the call over it hears busy at once (ACS reject), /readyz says
    503 so a load balancer sends the next call elsewhere, and the calls already up are not disturbed."""
    async with phone_rig(tmp_path, Script.replies("はい。"), max_media_sessions=1) as rig:
        first = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(4000)])
        await first.wait_for("CallConnected", 10)
        second = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))
        assert second.incoming_response is not None and second.incoming_response.status == 200
        assert second.incoming_response.body["rejected_busy"] == 1 and second.reject_reason == "busy"
        assert second.answer_body is None and len(rig.acs.requests_for("answer")) == 1
        async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/readyz") as ready:
            assert ready.status == 503 and (await ready.json())["status"] == "at capacity"
        await first.wait_for("MediaStreamingStarted", 10)
        assert rig.gw.hub.live_sessions(), "the call already up goes on"
        await first.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/readyz") as ready:
            assert ready.status == 200
        third = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))
        await third.wait_for("CallConnected", 10)  # room again: answered
        await third.hang_up()


async def test_with_an_event_grid_secret_only_the_subscription_can_ring(tmp_path) -> None:
    async with phone_rig(tmp_path, Script.replies("はい。"), event_grid_secret="eg-5ecret") as rig:
        forged = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))
        wrong = await rig.acs.incoming_call(rig.incoming_url + "?code=guess", wav=speech("ja_greeting_reply"))
        for refused in (forged, wrong):
            assert refused.incoming_response is not None and refused.incoming_response.status == 401
            assert "eg-5ecret" not in str(refused.incoming_response.body)
        assert rig.acs.requests_for("answer") == [] and not rig.gw.hub.live_sessions()
        call = await rig.acs.incoming_call(rig.incoming_url + "?code=eg-5ecret", wav=speech("ja_greeting_reply"))
        await call.wait_for("CallConnected", 10)
        await call.hang_up()
