"""A tool that raises, one that hangs, and one the model made up, during a live phone call: the model gets a JSON
error it can speak about, its next reply reaches the caller, and the call goes on (another turn gets answered)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from pydantic import BaseModel

from gateway.emulators.acs import Silence
from gateway.emulators.realtime import CallTool, Say, Script
from gateway.events import ToolCallFinished
from gateway.tools import ToolContext
from tests.conftest import speech
from tests.hardening.conftest import wait_until, write_profile
from tests.integration.phone_rig import phone_rig, running_call_tasks

logger = logging.getLogger(__name__)

LEAKY_DETAIL = "password=hunter2"  # what a careless exception message might carry; must never reach the model


class ItemArgs(BaseModel):
    item: str = ""


def register_faulty_tools(registry, hung: list[str]) -> None:
    @registry.function(ItemArgs, name="explode", timeout=2.0)
    async def explode(args: ItemArgs, ctx: ToolContext) -> dict:
        """Looks up stock; always fails."""
        raise RuntimeError(f"inventory database is down ({LEAKY_DETAIL})")

    @registry.function(ItemArgs, name="stall", timeout=0.5)
    async def stall(args: ItemArgs, ctx: ToolContext) -> dict:
        """Looks up stock; never answers."""
        try:
            await asyncio.Event().wait()
        finally:
            hung.append("cancelled")  # the registry's timeout must cancel it, not leave it running
        return {}


def fault_script(tool: str) -> Script:
    return Script(
        steps=[
            CallTool(
                tool,
                {"item": "snow tyres"},
                then=Say(
                    text="申し訳ございません、{output[error][code]} のため確認できませんでした。", duration_ms=1200
                ),
            ),
            Say(text="引き続きご用件を伺います。", duration_ms=1200),
        ],
        user_transcripts=["在庫を調べてください。", "では別の件です。"],
    )


@pytest.mark.parametrize(
    ("tool", "code"),
    [("explode", "failed"), ("stall", "timeout"), ("no_such_tool", "unknown_tool")],
)
async def test_a_failing_tool_is_spoken_about_and_the_call_goes_on(tmp_path, tool: str, code: str) -> None:
    agents = write_profile(tmp_path, "faulty", ["explode", "stall"])
    async with phone_rig(tmp_path, fault_script(tool), agent="faulty", agents_dir=agents) as rig:
        hung: list[str] = []
        register_faulty_tools(rig.gw.registry, hung)
        call = await rig.acs.incoming_call(
            rig.incoming_url,
            wav=speech("ja_greeting_reply"),
            script=[Silence(5000), speech("ja_compact"), Silence(8000)],
        )
        assert call.incoming_response.status == 200
        session = await rig.realtime.wait_for_session(1, timeout=15)
        tools = await session.wait_for(lambda s: s.session.get("tools"), timeout=10)
        offered = {t.get("name") for t in tools}
        assert {"explode", "stall"} <= offered

        # the model receives a JSON error it can speak about, and nothing from the exception's text
        [result] = await session.wait_for(lambda s: s.function_call_outputs, timeout=20)
        output = json.loads(result.output)
        assert output["ok"] is False and output["error"]["code"] == code, output
        assert isinstance(output["error"]["message"], str) and output["error"]["message"]
        assert LEAKY_DETAIL not in result.output
        call_response = session.responses[0]
        assert [o.name for o in call_response.outputs if o.kind == "function_call"] == [tool]
        assert result.at - (call_response.done_at or call_response.created_at) < 4.0  # the 0.5 s timeout, not 8 s
        if tool == "stall":
            await wait_until(lambda: hung, 5, "the hung tool cancelled")

        # the next response is asked for at once (not when the caller next speaks), quotes the error, and is heard
        await session.wait_for(lambda s: len(s.responses) >= 2 and s.responses[1].status == "completed", timeout=15)
        reply = session.responses[1]
        assert reply.created_at - result.at < 3.0, "the reply to the tool error waited for the caller to speak again"
        assert code in reply.transcript
        await wait_until(lambda: call.timeline.first_received_after(result.at), 10, "agent audio after the tool error")

        # the call goes on: the caller's next turn is heard by the model and answered, audibly
        hub_session = rig.gw.hub.live_sessions()[0]
        await session.wait_for(lambda s: len(s.user_turns) >= 2, timeout=20)
        await session.wait_for(lambda s: len(s.responses) >= 3 and s.responses[2].status == "completed", timeout=15)
        third = session.responses[2]
        assert third.transcript == "引き続きご用件を伺います。"
        await wait_until(lambda: call.timeline.first_received_after(third.created_at), 10, "audio of the third reply")
        assert rig.gw.hub.get(hub_session.session_id) is not None and hub_session.health == "ok"
        finished = [e for e in rig.gw.hub.history(hub_session.session_id) if isinstance(e, ToolCallFinished)]
        assert [(e.name, e.ok) for e in finished] == [(tool, False)]
        assert json.loads(finished[0].output)["error"]["code"] == code

        await call.hang_up()
        await wait_until(lambda: not rig.gw.hub.live_sessions(), 10, "the session closed")
        await rig.gw.writer.flush()
        [conversation] = await rig.gw.store.search_conversations(channel="phone")
        record = await rig.gw.store.conversation(conversation["id"])
        assert [(t["name"], t["ok"]) for t in record["tool_calls"]] == [(tool, False)]
        texts = [t["text"] for t in record["turns"]]
        assert any(code in text for text in texts) and "引き続きご用件を伺います。" in texts
        await wait_until(lambda: not running_call_tasks(rig.gw), 5, "no call task left")
