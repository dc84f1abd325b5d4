"""A campaign from the CLI against a gateway on the Twilio emulator: every good row dialled (at most two at once),
a busy number retried, bad and repeated rows reported and never dialled, results exported as CSV with a BOM."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io

from gateway.cli import main
from gateway.emulators.acs import EmulatedCall
from gateway.emulators.realtime import Script
from gateway.emulators.twilio import TwilioCall
from tests.integration.outbound_rig import API_TOKEN, OUTBOUND_SETTINGS
from tests.integration.phone_rig import phone_rig
from tests.integration.twilio_rig import twilio_rig

CONSOLE_TOKEN = "history-export-token"
CALL_LIST = """電話番号,氏名,会社
090-1234-5001,山田,A社
090-1234-5002,佐藤,B社
12345,誤り,C社
090-1234-5003,鈴木,D社
+81 90 1234 5001,山田（重複）,A社
090-1234-5004,高橋,E社
"""


async def test_a_campaign_run_from_the_cli(tmp_path, monkeypatch) -> None:
    listed = tmp_path / "list.csv"
    listed.write_text(CALL_LIST, encoding="utf-8")
    out = tmp_path / "results.csv"
    settings = {**OUTBOUND_SETTINGS, "console_token": CONSOLE_TOKEN}
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **settings) as rig:
        rig.twilio.set_outbound_outcome("+819012345003", "busy")
        peak, seen = 0, set()

        def new_call(call: TwilioCall) -> bool:
            nonlocal peak
            peak = max(peak, sum(1 for c in rig.twilio.calls.values() if not c.status.terminal))
            return call.sid not in seen

        async def talk_then_hang_up(call: TwilioCall) -> None:
            await call.wait_for(lambda c: c.status.terminal or (c.stream is not None and c.stream.connected), 30)
            if not call.status.terminal:
                await call.hang_up()

        async def callees_hang_up() -> None:  # each prospect who answers talks a moment, then hangs up
            async with asyncio.TaskGroup() as group:
                while True:
                    call = await rig.twilio.wait_for_call(new_call, 60)
                    seen.add(call.sid)
                    group.create_task(talk_then_hang_up(call))

        hang_ups = asyncio.create_task(callees_hang_up())
        monkeypatch.setenv("API_TOKEN", API_TOKEN)
        argv = ["campaign", "run", str(listed), "--gateway", rig.url, "--carrier", "twilio", "--concurrency", "2",
                "--retries", "1", "--retry-delay", "0.1", "--any-time", "--out", str(out)]
        try:
            assert await asyncio.wait_for(asyncio.to_thread(main, argv), 60) == 0
        finally:
            hang_ups.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hang_ups
        data = out.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        rows = {int(r["line"]): r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
        assert {line: r["outcome"] for line, r in rows.items()} == {
            2: "answered", 3: "answered", 4: "invalid", 5: "busy", 6: "invalid", 7: "answered"}
        assert rows[5]["attempts"] == "2" and rows[2]["attempts"] == "1"
        assert rows[2]["name"] == "山田" and rows[2]["call_id"].startswith("phone-") and float(rows[2]["duration_s"]) >= 0
        assert "same number as line 2" in rows[6]["reason"]
        dialled = sorted(c.to for c in rig.twilio.calls.values())
        assert dialled == ["+819012345001", "+819012345002", "+819012345003", "+819012345003", "+819012345004"]
        assert 1 <= peak <= 2

        # the calls' history, exported from the CLI as the console's Export CSV would
        history = tmp_path / "history.csv"
        monkeypatch.setenv("CONSOLE_TOKEN", CONSOLE_TOKEN)
        export = ["history", "export", "--gateway", rig.url, "--caller", "9012345", "--out", str(history)]
        assert await asyncio.wait_for(asyncio.to_thread(main, export), 30) == 0
        exported = history.read_bytes()
        assert exported.startswith(b"\xef\xbb\xbf")
        ids = {r["id"] for r in csv.DictReader(io.StringIO(exported.decode("utf-8-sig")))}
        assert {r["call_id"] for r in rows.values() if r["call_id"]} <= ids
        monkeypatch.setenv("CONSOLE_TOKEN", "not-the-token")
        assert await asyncio.to_thread(main, export) == 1  # a wrong token: refused, said in one line


async def test_twenty_prospects_on_acs(tmp_path, monkeypatch) -> None:
    """The issue's size: 20 prospects on the ACS emulator, three at once; every one ends answered."""
    numbers = [f"+8190123456{n:02d}" for n in range(20)]
    listed = tmp_path / "list.csv"
    listed.write_text("phone,name\n" + "".join(f"{n},客{i}\n" for i, n in enumerate(numbers)), encoding="utf-8")
    out = tmp_path / "results.csv"
    acs_options = {"ring_delay_s": 0.05}
    async with phone_rig(tmp_path, Script(steps=[]), acs_options=acs_options, play_s=0.1, **OUTBOUND_SETTINGS) as rig:
        seen: set[str] = set()

        async def talk_then_hang_up(call: EmulatedCall) -> None:
            await call.wait_for(lambda c: c.media is not None and c.media.connected, 30)
            await call.hang_up()

        async def callees_hang_up() -> None:
            async with asyncio.TaskGroup() as group:
                while True:
                    call = await rig.acs.wait_for_call(lambda c: c.call_connection_id not in seen, 60)
                    seen.add(call.call_connection_id)
                    group.create_task(talk_then_hang_up(call))

        hang_ups = asyncio.create_task(callees_hang_up())
        monkeypatch.setenv("API_TOKEN", API_TOKEN)
        argv = ["campaign", "run", str(listed), "--gateway", rig.url, "--carrier", "acs", "--concurrency", "3",
                "--any-time", "--out", str(out)]
        try:
            assert await asyncio.wait_for(asyncio.to_thread(main, argv), 120) == 0
        finally:
            hang_ups.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hang_ups
        rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
        assert [r["to"] for r in rows] == numbers and {r["outcome"] for r in rows} == {"answered"}
        assert sorted(c.callee for c in rig.acs.calls.values()) == numbers


async def test_a_stopped_campaign_resumes_with_the_rows_not_yet_done(tmp_path, monkeypatch) -> None:
    listed = tmp_path / "list.csv"
    listed.write_text("phone,name\n090-1234-5001,山田\n090-1234-5002,佐藤\n", encoding="utf-8")
    out = tmp_path / "results.csv"
    out.write_bytes("\ufeffline,to,name,outcome,attempts,call_id\r\n2,+819012345001,山田,answered,1,phone-earlier\r\n".encode())
    async with twilio_rig(tmp_path, Script(steps=[]), twilio_config={"ring_delay_s": 0.05}, **OUTBOUND_SETTINGS) as rig:
        rig.twilio.set_outbound_outcome("+819012345002", "busy")
        monkeypatch.setenv("API_TOKEN", API_TOKEN)
        argv = ["campaign", "run", str(listed), "--gateway", rig.url, "--carrier", "twilio", "--retries", "0",
                "--any-time", "--resume", "--out", str(out)]
        assert await asyncio.wait_for(asyncio.to_thread(main, argv), 60) == 0
        assert [c.to for c in rig.twilio.calls.values()] == ["+819012345002"]  # line 2 was done: not dialled again
    rows = {r["line"]: r for r in csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8-sig")))}
    assert rows["2"]["call_id"] == "phone-earlier" and rows["3"]["outcome"] == "busy"
