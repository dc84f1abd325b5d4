"""Campaigns through the API the console uses, dialled by the gateway from its store, against the ACS and Twilio
emulators (official SDKs): 20 prospects with mixed scripted callees (answer, busy, no answer, machine), outcomes and
the CSV export; pause and resume; a gateway stopped mid-campaign and started again finishes with no row dialled
twice; duplicate numbers and bad rows reported, never dialled."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.app import create_app
from gateway.campaigns.hours import DAYS
from gateway.emulators.acs import EmulatedCall, Silence
from gateway.emulators.acs.models import CallState
from gateway.emulators.realtime import CallTool, RealtimeEmulator, Say, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY, offline_stack
from gateway.emulators.twilio import TwilioCall, TwilioEmulator
from gateway.store.campaigns import CampaignRecords, CampaignSpec, NewRow
from gateway.store.sms import SmsRecords
from tests.conftest import make_settings, speech
from tests.integration.campaign_rig import (
    campaign,
    campaign_page,
    campaign_reaches,
    control,
    create_campaign,
    export,
    prospects_hang_up,
)
from tests.integration.outbound_rig import OUTBOUND_SETTINGS
from tests.integration.phone_rig import phone_rig
from tests.integration.twilio_rig import ACCOUNT_SID, AUTH_TOKEN, twilio_rig

NUMBERS = [f"+8190123450{n:02d}" for n in range(20)]
BUSY, NO_ANSWER, MACHINE = NUMBERS[3:5], NUMBERS[7:9], NUMBERS[11:13]
EXPECTED = {n: "busy" if n in BUSY else "no_answer" if n in NO_ANSWER else "machine" if n in MACHINE else "answered" for n in NUMBERS}
KEY_CHECK_PROFILE = """---
name: key-check
greeting: こんにちは、サンプル社です。
answering_machine:
  check: press_key
  check_timeout_s: 2
---
ご案内してください。
"""


def call_list(numbers: list[str]) -> str:
    return "電話番号,氏名,会社\n" + "".join(f"{n},客{i},{i}社\n" for i, n in enumerate(numbers))


def body(text: str, carrier: str, **more: Any) -> dict[str, Any]:
    return {"call_list": text, "carrier": carrier, "concurrency": 4, "retries": 1, "retry_delay_s": 0.1, "hours": None, **more}


def finished(c: dict[str, Any]) -> bool:
    return c["status"] == "done"


def check_outcomes(found: dict[str, Any]) -> None:
    assert {r["to"]: r["outcome"] for r in found["rows"]} == EXPECTED
    attempts = {r["to"]: r["attempts"] for r in found["rows"]}
    assert all(attempts[n] == (2 if EXPECTED[n] in ("busy", "no_answer") else 1) for n in NUMBERS), attempts
    assert found["outcomes"] == dict(Counter(EXPECTED.values())) and found["done"] == 20 and found["live"] == 0
    answered = next(r for r in found["rows"] if r["outcome"] == "answered")
    assert answered["call_id"].startswith("phone-") and answered["duration_s"] is not None


async def check_export(base: str, campaign_id: str) -> None:
    content_type, data = await export(base, campaign_id)
    assert content_type.startswith("text/csv") and data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["to"], r["name"], r["outcome"]) for r in rows] == [(n, f"客{i}", EXPECTED[n]) for i, n in enumerate(NUMBERS)]


async def run_twenty(base: str, carrier: str, callees: Any, dialled: Callable[[], list[str]]) -> None:
    """The 20-number campaign through the API while ``callees`` answer: outcomes, numbers dialled, export."""
    async with callees:
        status, created = await create_campaign(base, body(call_list(NUMBERS), carrier))
        assert status == 201, created
        found = await campaign_reaches(base, created["id"], finished, 120)
    check_outcomes(found)
    assert Counter(dialled()) == Counter({n: 2 if EXPECTED[n] in ("busy", "no_answer") else 1 for n in NUMBERS})
    await check_export(base, created["id"])


async def test_twenty_prospects_on_twilio(tmp_path) -> None:
    settings = {**OUTBOUND_SETTINGS, "outbound_ring_timeout_s": 5}
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **settings) as rig:
        for n in BUSY:
            rig.twilio.set_outbound_outcome(n, "busy")
        for n in NO_ANSWER:
            rig.twilio.set_outbound_outcome(n, "no-answer")
        for n in MACHINE:
            rig.twilio.set_outbound_outcome(n, "answer", answered_by="machine_end_beep")
        peak = 0

        def new_call(seen: set[str]) -> Any:
            def fresh(call: TwilioCall) -> bool:
                nonlocal peak
                peak = max(peak, sum(1 for c in rig.twilio.calls.values() if not c.status.terminal))
                return call.sid not in seen
            return rig.twilio.wait_for_call(fresh, 120)

        async def talk(call: TwilioCall) -> None:
            await call.wait_for(lambda c: c.status.terminal or (c.stream is not None and c.stream.connected and c.answered_by == "human"), 30)
            if not call.status.terminal:
                await call.hang_up()

        await run_twenty(rig.url, "twilio", prospects_hang_up(new_call, lambda c: c.sid, talk), lambda: [c.to for c in rig.twilio.calls.values()])
        assert 1 <= peak <= 4


async def test_twenty_prospects_on_acs(tmp_path) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "check.md").write_text(KEY_CHECK_PROFILE, encoding="utf-8")
    settings = {**OUTBOUND_SETTINGS, "agents_dir": folder, "agent": "key-check"}
    options = {"ring_delay_s": 0.05, "no_answer_timeout_s": 0.3}
    async with phone_rig(tmp_path, Script(steps=[]), acs_options=options, play_s=0.1, **settings) as rig:
        for n in BUSY:
            rig.acs.set_outbound_outcome(n, "busy")
        for n in NO_ANSWER:
            rig.acs.set_outbound_outcome(n, "no-answer")
        for n in MACHINE:
            rig.acs.set_outbound_outcome(n, "answer", [Silence(4000)], keys=None)

        def new_call(seen: set[str]) -> Any:
            return rig.acs.wait_for_call(lambda c: c.call_connection_id not in seen, 120)

        async def talk(call: EmulatedCall) -> None:
            await call.wait_for(lambda c: c.state == CallState.DISCONNECTED or (c.media is not None and c.media.connected), 30)
            if call.state != CallState.DISCONNECTED:
                await call.hang_up()

        callees = prospects_hang_up(new_call, lambda c: c.call_connection_id, talk)
        await run_twenty(rig.url, "acs", callees, lambda: [c.callee for c in rig.acs.calls.values()])


async def test_bad_rows_and_duplicates_are_reported_never_dialled(tmp_path) -> None:
    text = "phone,name\n090-1234-5001,山田\n12345,誤り\n+81 90 1234 5001,山田（重複）\n090-1234-5002,佐藤\n"
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **OUTBOUND_SETTINGS) as rig:
        for n in ("+819012345001", "+819012345002"):
            rig.twilio.set_outbound_outcome(n, "busy")
        status, created = await create_campaign(rig.url, body(text, "twilio", retries=0))
        assert status == 201
        assert [(b["line"], b["reason"].split(":")[0]) for b in created["bad_rows"]] == [(3, "not a valid phone number"), (4, "the same number as line 2")]
        found = await campaign_reaches(rig.url, created["id"], finished)
        assert [(r["line"], r["status"], r["outcome"]) for r in found["rows"]] == [
            (2, "done", "busy"), (3, "invalid", "invalid"), (4, "invalid", "invalid"), (5, "done", "busy")]
        assert found["invalid"] == 2 and found["dialled"] == 2
        assert sorted(c.to for c in rig.twilio.calls.values()) == ["+819012345001", "+819012345002"]
        status, refused = await create_campaign(rig.url, body("phone\n12\n", "twilio"))
        assert status == 400 and refused["bad_rows"][0]["line"] == 2
        status, refused = await create_campaign(rig.url, body("name\n山田\n", "twilio"))
        assert status == 400 and "phone number column" in refused["error"]
        status, refused = await create_campaign(rig.url, body(text, "twilio", concurrency=0))
        assert status == 400 and refused["error"].startswith("concurrency")
        status, refused = await create_campaign(rig.url, body(text, "twilio"), headers={})
        assert status == 401
        assert len(rig.twilio.calls) == 2  # nothing refused reached the carrier


async def test_rows_come_in_pages_and_the_export_streams_them_all(tmp_path) -> None:
    """250 rows waiting for tomorrow's calling day: the detail route serves them 100 at a time by default (at most
    1000), a bad page is refused in one line, and the CSV export streams every row."""
    numbers = [f"+81905500{n:04d}" for n in range(250)]
    tomorrow = DAYS[(dt.datetime.now(ZoneInfo("Asia/Tokyo")).weekday() + 1) % 7]
    async with twilio_rig(tmp_path, Script(steps=[]), **OUTBOUND_SETTINGS) as rig:
        status, created = await create_campaign(rig.url, body(call_list(numbers), "twilio", hours="09:00-20:00", days=tomorrow))
        assert status == 201, created
        first = await campaign(rig.url, created["id"])
        assert first["total"] == 250 and (first["offset"], first["limit"]) == (0, 100)
        assert [r["to"] for r in first["rows"]] == numbers[:100]
        status, last = await campaign_page(rig.url, created["id"], {"offset": "200", "limit": "1000"})
        assert status == 200 and [r["line"] for r in last["rows"]] == list(range(202, 252))
        for bad in ({"limit": "1001"}, {"limit": "0"}, {"offset": "-1"}, {"offset": "x"}):
            status, refused = await campaign_page(rig.url, created["id"], bad)
            assert status == 400 and "offset" in refused["error"], refused
        _, data = await export(rig.url, created["id"])
        assert data.startswith(b"\xef\xbb\xbf")
        assert [r["to"] for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))] == numbers
        assert rig.twilio.calls == {}  # not its calling day: nothing dialled


async def test_a_number_being_called_is_not_claimed_again(tmp_path) -> None:
    """Two campaigns listing the same number: the store refuses the second claim while the first call is live."""
    async with twilio_rig(tmp_path, Script(steps=[]), **OUTBOUND_SETTINGS) as rig:
        records = CampaignRecords(rig.gw.store)
        spec = CampaignSpec("x", "support-desk", "twilio", 1, 0, 0.0, None)
        first = await records.create(spec, [NewRow(2, "+819012345001")])
        second = await records.create(spec, [NewRow(2, "+819012345001")])
        await records.set_status(first, "paused")  # their runners are not started: the test claims by hand
        assert await records.claim(first, 2, "+819012345001", "phone-a")
        assert not await records.claim(first, 2, "+819012345001", "phone-b")  # claimed once
        assert not await records.claim(second, 2, "+819012345001", "phone-c")  # the same number, live in another campaign
        await records.finish(first, 2, "answered", duration_s=1.0, reason="", retry_at=None)
        assert await records.claim(second, 2, "+819012345001", "phone-d")  # its end freed the number
        assert [r["call_id"] for r in await records.rows(second)] == ["phone-d"]  # the attempt's id, before any dial


async def test_pause_stops_dialling_and_resume_finishes(tmp_path) -> None:
    numbers = NUMBERS[:5]
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **OUTBOUND_SETTINGS) as rig:
        for n in numbers:
            rig.twilio.set_outbound_outcome(n, "busy")
        status, created = await create_campaign(rig.url, body(call_list(numbers), "twilio", concurrency=1, retries=0))
        assert status == 201
        campaign_id = created["id"]
        await campaign_reaches(rig.url, campaign_id, lambda c: c["done"] >= 1)
        status, paused = await control(rig.url, campaign_id, "pause")
        assert status == 200 and paused["status"] == "paused"
        held = await campaign_reaches(rig.url, campaign_id, lambda c: c["live"] == 0)
        assert held["pending"] >= 1
        dialled = len(rig.twilio.calls)
        runner = rig.app.blueprints["campaigns"].campaigns.runners[campaign_id]
        await runner.looked(runner.looks + 3)  # the runner has looked at the store three times since: still paused
        assert len(rig.twilio.calls) == dialled and (await campaign(rig.url, campaign_id))["pending"] == held["pending"]
        status, resumed = await control(rig.url, campaign_id, "resume")
        assert status == 200 and resumed["status"] == "running"
        found = await campaign_reaches(rig.url, campaign_id, finished)
        assert [r["outcome"] for r in found["rows"]] == ["busy"] * 5
        assert sorted(c.to for c in rig.twilio.calls.values()) == numbers
        assert (await control(rig.url, campaign_id, "pause"))[0] == 409  # a finished campaign stays finished


async def test_a_restarted_gateway_finishes_the_campaign_with_no_row_dialled_twice(tmp_path: Path) -> None:
    numbers = NUMBERS[:6]
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script(steps=[]))
    twilio = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, ring_delay_s=0.05)
    async with offline_stack(realtime=realtime) as stack, twilio.serve() as twilio_url:

        def app_on(port: int) -> Any:
            values = stack.settings(f"http://127.0.0.1:{port}")
            values.update(twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_base=twilio_url, twilio_audio="pcm")
            values.update(OUTBOUND_SETTINGS)
            return create_app(make_settings(tmp_path, **values))

        def new_call(seen: set[str]) -> Any:
            return twilio.wait_for_call(lambda c: c.sid not in seen, 60)

        async def talk(call: TwilioCall) -> None:
            await call.wait_for(lambda c: c.status.terminal or (c.stream is not None and c.stream.connected), 30)
            if not call.status.terminal:
                await call.hang_up()

        async with prospects_hang_up(new_call, lambda c: c.sid, talk):
            port = free_port()
            async with serve_app(app_on(port), port=port) as url:
                status, created = await create_campaign(url, body(call_list(numbers), "twilio", concurrency=1))
                assert status == 201
                campaign_id = created["id"]
                await campaign_reaches(url, campaign_id, lambda c: c["done"] >= 2)
            # the gateway is stopped mid-campaign; a new one on the same store takes it over
            port = free_port()
            async with serve_app(app_on(port), port=port) as url:
                found = await campaign_reaches(url, campaign_id, finished, 60)
        assert [r["status"] for r in found["rows"]] == ["done"] * 6
        dialled = Counter(c.to for c in twilio.calls.values())
        assert set(dialled) == set(numbers) and set(dialled.values()) == {1}  # every row dialled, none twice
        assert all(r["attempts"] == 1 for r in found["rows"])
        interrupted = [r for r in found["rows"] if r["outcome"] == "failed"]
        assert all("gateway stopped" in r["reason"] for r in interrupted)  # a call cut by the stop is not redialled
        assert sum(1 for r in found["rows"] if r["outcome"] == "answered") >= 6 - len(interrupted) and len(interrupted) <= 1


@pytest.mark.parametrize("token", ["wrong", None])
async def test_the_campaigns_api_needs_a_credential(tmp_path, token: str | None) -> None:
    async with twilio_rig(tmp_path, Script(steps=[]), **OUTBOUND_SETTINGS) as rig:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _ = await create_campaign(rig.url, body(call_list(NUMBERS[:1]), "twilio"), headers=headers)
        assert status in (401, 403)
        assert not rig.twilio.calls


DECLINING_PROFILE = """---
name: prospecting
greeting: こんにちは、サンプル社です。
tools: [record_declined]
---
ご案内してください。断られたら record_declined を呼んでください。
"""


async def test_a_prospect_who_declines_ends_as_declined(tmp_path) -> None:
    """declined is what the agent recorded during the call (its record_declined tool call), not a guess."""
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "prospecting.md").write_text(DECLINING_PROFILE, encoding="utf-8")
    script = Script(steps=[CallTool("record_declined", {"reason": "不要"}, then=Say(text="失礼いたしました。"))])
    settings = {**OUTBOUND_SETTINGS, "agents_dir": folder, "agent": "prospecting"}
    async with phone_rig(tmp_path, script, acs_options={"ring_delay_s": 0.05}, play_s=0.1, **settings) as rig:
        rig.acs.set_outbound_outcome(NUMBERS[0], "answer", [speech("ja_greeting_reply", 16), Silence(20000)])
        status, created = await create_campaign(rig.url, body(call_list(NUMBERS[:1]), "acs"))
        assert status == 201
        found = await campaign_reaches(rig.url, created["id"], lambda c: c["rows"][0]["call_id"] is not None)
        call_id = found["rows"][0]["call_id"]
        tools, deadline = SmsRecords(rig.gw.store), asyncio.get_running_loop().time() + 20
        while not await tools.tool_outputs(call_id, "record_declined"):  # the agent recorded the no in the call
            assert asyncio.get_running_loop().time() < deadline, "record_declined was never called"
            await rig.gw.writer.flush(timeout=5)
            await asyncio.sleep(0.05)
        [call] = rig.acs.calls.values()
        await call.hang_up()
        found = await campaign_reaches(rig.url, created["id"], finished)
        assert found["rows"][0]["outcome"] == "declined" and found["outcomes"] == {"declined": 1}


async def test_nothing_is_dialled_outside_calling_hours(tmp_path) -> None:
    tokyo = dt.datetime.now(ZoneInfo("Asia/Tokyo"))
    closed_day = DAYS[(tokyo.weekday() + 1) % 7]  # only tomorrow is a calling day: now is outside the hours
    async with twilio_rig(tmp_path, Script(steps=[]), **OUTBOUND_SETTINGS) as rig:
        status, created = await create_campaign(rig.url, body(call_list(NUMBERS[:2]), "twilio", hours="09:00-20:00", days=closed_day))
        assert status == 201
        runner = rig.app.blueprints["campaigns"].campaigns.runners[created["id"]]
        await runner.looked(1)  # it has looked at the campaign and the clock once, and waits for the window
        found = await campaign(rig.url, created["id"])
        assert found["status"] == "running" and found["dialled"] == 0 and found["pending"] == 2
        assert found["hours"] == "09:00-20:00" and found["days"] == closed_day and found["tz"] == "Asia/Tokyo"
        opens = dt.datetime.fromisoformat(found["opens_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
        assert (opens.date(), opens.time()) == ((tokyo + dt.timedelta(days=1)).date(), dt.time(9, 0))  # said, not stuck
        assert not rig.twilio.calls


async def test_the_console_token_opens_the_campaigns_api_too(tmp_path) -> None:
    async with twilio_rig(tmp_path, Script(steps=[]), **OUTBOUND_SETTINGS, console_token="console-token-for-tests") as rig:
        headers = {"Authorization": "Bearer console-token-for-tests"}
        status, created = await create_campaign(rig.url, body(call_list(NUMBERS[:1]), "twilio", days="mon", hours="00:00-00:01"), headers=headers)
        assert status == 201, created
        status, _ = await create_campaign(rig.url, body(call_list(NUMBERS[:1]), "twilio"), headers={"Authorization": "Bearer nope"})
        assert status == 401
