"""A conversation started in the browser continues on the phone: the caller keys in the page's code and the agent
knows what was said and what the tools did."""

from __future__ import annotations

import aiohttp

from gateway.emulators.acs import Dtmf, Silence
from gateway.emulators.realtime import Say, Script
from gateway.events import TranscriptFinal
from gateway.hub import SessionInfo
from tests.conftest import speech
from tests.integration.phone_rig import phone_rig
from tests.integration.test_phone_call import RESERVATION, wait_until


async def test_a_browser_conversation_continues_by_phone_with_its_context(tmp_path) -> None:
    script = Script(steps=[Say(text="続きからご案内します。予約番号はお伝えした通りです。")])
    async with phone_rig(tmp_path, script, agent="rent-a-car") as rig:
        gw = rig.gw
        # the browser half: a WebRTC session that talked and made a reservation through the gateway's tool endpoint
        browser_id = "webrtc-handoff-demo"
        token = gw.tokens.mint(browser_id, "rent-a-car")
        gw.hub.open(SessionInfo(browser_id, "webrtc", "rent-a-car", "browser"))
        gw.hub.publish(browser_id, TranscriptFinal("user", "東京駅で来週土曜日にコンパクトカーを借りたいです。"))
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{rig.url}/api/tools/create_reservation", json={"session_id": browser_id, "call_id": "c1", "arguments": RESERVATION}, headers=headers) as r:
                booked = await r.json()
                assert booked["ok"] and booked["next_step"] == "close"
            gw.hub.publish(browser_id, TranscriptFinal("assistant", f"ご予約番号は{booked['output']['reservation_number']}です。"))
            async with http.post(f"{rig.url}/api/handoff", json={"session_id": browser_id}, headers={"Authorization": "Bearer forged"}) as r:
                assert r.status == 401
            async with http.post(f"{rig.url}/api/handoff", json={"session_id": browser_id}, headers=headers) as r:
                code = (await r.json())["code"]
        gw.hub.close(browser_id, "handed_off")

        # the phone half: the caller keys in the code
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(1500), *(Dtmf(d) for d in code), Silence(3000)])
        assert call.answer_body["mediaStreamingOptions"]["enableDtmfTones"] is True
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: any(r.instructions and "続きです" in r.instructions for r in s.responses), timeout=20)
        restored = " ".join(part.get("text", "") for item in session.created_items for part in item.get("content", []))
        assert "コンパクトカーを借りたい" in restored and booked["output"]["reservation_number"] in restored
        assert "Step close" in session.instructions_history[-1]
        await wait_until(lambda: call.timeline.received, 10)
        await call.hang_up()
        await wait_until(lambda: not gw.hub.live_sessions(), 10)
        await gw.writer.flush()
        [phone] = await gw.store.search_conversations(channel="phone")
        assert phone["continued_from"] == browser_id


async def test_a_wrong_code_is_refused_and_the_call_goes_on(tmp_path) -> None:
    async with phone_rig(tmp_path, Script.replies("コードをご確認ください。")) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(1200), *(Dtmf(d) for d in "000000"), Silence(2500)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: any(r.instructions and "無効" in r.instructions for r in s.responses), timeout=20)
        assert rig.gw.hub.live_sessions()
        await call.hang_up()
