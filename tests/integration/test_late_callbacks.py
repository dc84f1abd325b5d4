"""Call Automation deliveries are at-least-once, not strictly ordered, and a retry can arrive after the call has
ended. None of that may change a call: a repeat is ignored, and an ended call stays ended (no ghost holding one of
the MAX_MEDIA_SESSIONS slots, so the next caller is not told "busy" while /readyz says ready)."""

from __future__ import annotations

import aiohttp

from gateway.emulators.acs import CallbackDisorder, Silence
from gateway.emulators.realtime import Script
from tests.conftest import speech
from tests.integration.phone_rig import phone_rig
from tests.integration.test_phone_call import wait_until

LATE = frozenset({"PlayCompleted", "CallDisconnected", "MediaStreamingStarted"})


async def test_late_callbacks_after_hang_up_leave_the_line_free(tmp_path) -> None:
    disorder = CallbackDisorder(redeliver_after_end=LATE)
    async with phone_rig(tmp_path, Script.replies("はい。"), max_media_sessions=1, acs_options={"callbacks": disorder}) as rig:
        first = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(2000)])
        await first.wait_for("MediaStreamingStarted", 10)
        await rig.realtime.wait_for_session(1)
        await first.hang_up()  # the late retries are delivered once the call has ended
        await wait_until(lambda: len(first.events("PlayCompleted")) == 2 and len(first.events("CallDisconnected")) == 2, 10)
        token = rig.acs.issuer.callback_token()
        assert await rig.acs.send_callback(first, "MediaStreamingStopped", token=token) == 200
        assert await rig.acs.send_callback(first, "PlayCompleted", token=token, operationContext="greeting") == 200
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        line = rig.phone_calls
        assert line.calls == {}, "an ended call came back"
        assert rig.gw.media_sessions() == set()
        async with aiohttp.ClientSession() as http, http.get(f"{rig.url}/readyz") as ready:
            assert ready.status == 200

        second = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(1000)])
        assert second.incoming_response.status == 200
        assert second.reject_reason is None, "the line was free: the second caller must not hear busy"
        await second.wait_for("MediaStreamingStarted", 10)
        await second.hang_up()


async def test_a_call_with_callbacks_out_of_order_and_repeated_runs_and_ends_once(tmp_path) -> None:
    disorder = CallbackDisorder(duplicate=True, reorder=True, redeliver_after_end=LATE)
    async with phone_rig(tmp_path, Script.replies("はい、承ります。"), acs_options={"callbacks": disorder}) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(3000)])
        session = await rig.realtime.wait_for_session(1)
        await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", timeout=15)
        await wait_until(lambda: call.timeline and call.timeline.received, 10)
        # every callback came twice: the greeting was played once and streaming asked for once
        assert len(call.events("CallConnected")) == 2 and len(call.events("PlayCompleted")) == 2
        ops = rig.acs.operations(call.call_connection_id)
        assert ops.count("play") == 1 and ops.count("startMediaStreaming") == 1
        await call.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        await rig.gw.writer.flush()
        [conversation] = await rig.gw.store.search_conversations(channel="phone")
        assert conversation["ended_at"]
        assert rig.phone_calls.calls == {}
