"""The provider misbehaving during a phone call: a dropped socket is survived with context; a refusing provider
gets the caller an apology and a clean hang-up, with the record kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from gateway.emulators.acs import Silence
from gateway.emulators.acs.playback import play_texts
from gateway.emulators.realtime import Pacing, Say, Script
from gateway.events import EngineReconnected  # noqa: F401  (documents what the engine emits)
from tests.conftest import speech
from tests.integration.phone_rig import DIALECTS, errors_of, phone_rig, running_call_tasks, session_logs
from tests.integration.test_phone_call import wait_until


async def test_a_provider_drop_mid_call_is_survived_with_context(tmp_path) -> None:
    script = Script(
        steps=[Say(text="ただいま確認しております。", duration_ms=3000), Say(text="お待たせしました、再接続後の回答です。")],
        user_transcripts=["こんにちは"],
    )
    async with phone_rig(tmp_path, script, pacing=Pacing(realtime_factor=1.0)) as rig:
        rig.realtime.config.script_scope = "emulator"  # the reconnected session continues the same script
        rig.realtime.drop_mid_response(after_audio_ms=400, code=None)  # TCP abort, like a network failure
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(8000)])
        second = await rig.realtime.wait_for_session(2, timeout=20)
        await second.wait_for(lambda s: s.instructions_history, timeout=10)
        # the new session got the instructions and the conversation so far (the items follow the session.update)

        def restored_texts(session) -> list[str]:
            restored = [item for item in session.created_items if item.get("type") == "message"]
            return [part.get("text", "") for item in restored for part in item.get("content", [])]

        await second.wait_for(lambda s: "こんにちは" in restored_texts(s), timeout=10)
        assert second.instructions and "サポートデスク" in second.instructions
        texts = restored_texts(second)
        assert "こんにちは" in texts and any("サポートデスク" in t for t in texts)
        # the caller was waiting for an answer: it comes after the reconnect, and the call goes on
        await second.wait_for(lambda s: s.responses and s.responses[0].status == "completed", timeout=15)
        reply_item = second.responses[0].item_ids[0]
        await wait_until(lambda: call.timeline.received and call.timeline.received[-1].time > second.connected_at, 10)
        assert rig.gw.hub.live_sessions(), "the call is still up"
        await call.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        await rig.gw.writer.flush()
        [conversation] = await rig.gw.store.search_conversations(channel="phone")
        turns = [t["text"] for t in (await rig.gw.store.conversation(conversation["id"]))["turns"]]
        assert "お待たせしました、再接続後の回答です。" in turns and "こんにちは" in turns
        assert reply_item


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_refusing_provider_gets_an_apology_and_a_clean_hang_up(tmp_path, caplog, dialect: str) -> None:
    """The session set-up failing is a logged error of that call (whatever the dialect), and the caller is told."""
    caplog.set_level(logging.INFO)
    with session_logs(caplog):
        async with phone_rig(tmp_path, Script.replies("unused"), dialect=dialect) as rig:
            rig.realtime.refuse_connections(503)
            call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))
            await call.wait_for("CallDisconnected", 15)
            await _apology_and_clean_end(rig, call)
    [session_id] = {r.session_id for r in caplog.records if getattr(r, "session_id", "-").startswith("phone-")}
    assert any("set-up failed" in m and "503" in m for m in errors_of(caplog, session_id)), errors_of(caplog, session_id)


async def _apology_and_clean_end(rig, call) -> None:
    plays = [play_texts(r.body)[0] for r in rig.acs.requests_for("play")]
    assert len(plays) == 2 and "申し訳ございません" in plays[1]
    ops = rig.acs.operations(call.call_connection_id)
    assert "startMediaStreaming" not in ops and ops[-1] in ("terminate", "hangUp", "delete")
    await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
    await rig.gw.writer.flush()
    [conversation] = await rig.gw.store.search_conversations(channel="phone")
    assert conversation["outcome"] == "provider_unavailable"
    record = await rig.gw.store.conversation(conversation["id"])
    assert record["turns"][0]["role"] == "assistant"  # the greeting the caller heard is on record
    await asyncio.sleep(0.2)
    assert running_call_tasks(rig.gw) == []


async def test_a_dropped_media_socket_ends_the_session_and_leaks_nothing(tmp_path) -> None:
    async with phone_rig(tmp_path, Script.replies("はい。")) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(5000)])
        session = await rig.realtime.wait_for_session(1)
        await wait_until(lambda: call.timeline and call.timeline.sent_count > 20, 10)
        await call.media.stop(code=1011)  # ACS's media socket goes away without a CallDisconnected
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10)
        await session.wait_for(lambda s: s.closed, timeout=5)
        await asyncio.sleep(0.2)
        assert running_call_tasks(rig.gw) == []


class FlakyFrontDoor:
    """A TCP hop in front of the ACS emulator that resets its first ``drop_first`` connections as they open, the way
    a pooled connection the far end had just closed fails under a request; later connections are piped through."""

    def __init__(self, drop_first: int) -> None:
        self.drop_first = drop_first
        self.connections = 0
        self.target_port = 0

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.drop_first:
            await reader.read(1)  # the request has started to arrive...
            writer.transport.abort()  # ...and the connection is reset under it
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_call_control_request_that_never_reached_acs_is_sent_again(tmp_path) -> None:
    door = FlakyFrontDoor(drop_first=1)
    async with door.serve() as door_url, phone_rig(tmp_path, Script.replies("はい。"), acs_endpoint=door_url) as rig:
        door.target_port = urlsplit(rig.stack.urls["acs"]).port or 0
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(3000)])
        await call.wait_for("CallConnected", 10)  # answered on the second try: the caller did not lose the call
        assert door.connections >= 2 and len(rig.acs.requests_for("answer")) == 1
        await call.wait_for("PlayCompleted", 10)
        await call.hang_up()
