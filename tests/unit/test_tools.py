import asyncio
import json

import pytest
from pydantic import BaseModel

from gateway import readings
from gateway.readings.dictionary import parse_readings
from gateway.readings.digits import to_hiragana
from gateway.tools import ToolContext, ToolRegistry


class Args(BaseModel):
    n: int


@pytest.fixture
def registry() -> ToolRegistry:
    reg = ToolRegistry(default_timeout=0.2)

    @reg.function(Args)
    async def double(args: Args, ctx: ToolContext) -> dict:
        """Doubles n."""
        return {"value": args.n * 2, "session": ctx.session_id}

    @reg.function(Args, name="slow")
    async def slow(args: Args, ctx: ToolContext) -> dict:
        """Hangs."""
        await asyncio.sleep(10)
        return {}

    @reg.function(Args, name="broken")
    async def broken(args: Args, ctx: ToolContext) -> dict:
        """Raises."""
        raise RuntimeError("database on fire")

    return reg


def ctx(gateway=None) -> ToolContext:
    return ToolContext(session_id="s-1", store=gateway.store if gateway else None)  # type: ignore[arg-type]


def test_schemas_in_realtime_and_chat_formats(registry: ToolRegistry) -> None:
    realtime = registry.realtime_schemas(["double"])
    chat = registry.chat_schemas(["double"])
    assert realtime == [
        {"type": "function", "name": "double", "description": "Doubles n.", "parameters": realtime[0]["parameters"]}
    ]
    params = realtime[0]["parameters"]
    assert params["properties"]["n"]["type"] == "integer" and params["required"] == ["n"]
    assert "title" not in json.dumps(params)
    assert chat == [{"type": "function", "function": {"name": "double", "description": "Doubles n.", "parameters": params}}]
    assert registry.realtime_schemas(["double", "nope"]) == realtime  # unknown names are left out


async def test_a_call_returns_json_and_sees_its_session(registry: ToolRegistry) -> None:
    outcome = await registry.call("double", '{"n": 21}', ctx())
    assert outcome.ok and outcome.output == {"ok": True, "value": 42, "session": "s-1"}


@pytest.mark.parametrize(
    ("name", "arguments", "code"),
    [
        ("nope", "{}", "unknown_tool"),
        ("double", "{not json", "bad_arguments"),
        ("double", "[1, 2]", "bad_arguments"),
        ("double", '{"n": "many"}', "bad_arguments"),
        ("double", "{}", "bad_arguments"),
        ("slow", '{"n": 1}', "timeout"),
        ("broken", '{"n": 1}', "failed"),
    ],
)
async def test_failures_come_back_as_json_errors(registry: ToolRegistry, name: str, arguments: str, code: str) -> None:
    outcome = await registry.call(name, arguments, ctx())
    assert not outcome.ok
    assert outcome.output["error"]["code"] == code
    assert json.loads(outcome.to_json())["error"]["message"]


async def test_create_reservation_writes_a_row_and_refuses_a_double_booking(gateway) -> None:
    args = {"locationId": "tokyo-station", "startDate": "2030-06-01T10:00", "endDate": "2030-06-01T18:00", "customerName": "山田 太郎", "vehicleType": "minivan"}
    first = await gateway.registry.call("create_reservation", args, ctx(gateway))
    assert first.ok, first.output
    number = first.output["reservation_number"]
    assert number.startswith("R-") and first.output["reservation_number_spoken"].startswith("アール")
    assert first.next_step == "close"
    row = await gateway.store.reservation(number)
    assert row["customer_name"] == "山田 太郎" and row["vehicle_type"] == "minivan" and row["conversation_id"] == "s-1"
    # the only minivan at that location is now taken for an overlapping time
    second = await gateway.registry.call("create_reservation", {**args, "startDate": "2030-06-01T12:00", "customerName": "佐藤"}, ctx(gateway))
    assert not second.ok and second.output["error"]["code"] == "failed"
    availability = await gateway.registry.call("get_availability", {k: args[k] for k in ("locationId", "startDate", "endDate")}, ctx(gateway))
    assert "minivan" not in [a["type"] for a in availability.output["available"]]
    # a later period is free again
    later = await gateway.registry.call("create_reservation", {**args, "startDate": "2030-06-02", "endDate": "2030-06-03"}, ctx(gateway))
    assert later.ok and later.output["reservation_number"] != number


async def test_business_tools_give_spoken_forms(gateway) -> None:
    customer = await gateway.registry.call("get_customer_info", {"phone_number": "090-0000-0000"}, ctx(gateway))
    assert customer.output["found"] and customer.output["name"] == "山田 太郎"
    assert customer.output["phone_spoken"] == "ゼロキュウゼロ、ゼロゼロゼロゼロ、ゼロゼロゼロゼロ"
    kana = await gateway.registry.call("get_customer_info", {"phone_number": "ゼロキュウゼロ、イチニーサンヨン、ゴーロクナナハチ"}, ctx(gateway))
    assert kana.output["name"] == "佐藤 花子"
    bad_dates = await gateway.registry.call("get_availability", {"locationId": "haneda", "startDate": "tomorrow", "endDate": "2030-01-01"}, ctx(gateway))
    assert bad_dates.output["error"]["code"] == "bad_arguments"
    driver = await gateway.registry.call("identify_driver", {"vehicleNumber": "1234", "name": "田中"}, ctx(gateway))
    assert driver.output["identified"] and driver.next_step == "inform"
    assert driver.output["vehicle_number_spoken"] == "イチ ニー サン ヨン"
    schedule = await gateway.registry.call("get_driver_schedule", {"vehicleNumber": "1234"}, ctx(gateway))
    assert schedule.output["next_destination"]["destination"] == "横浜ベイ倉庫" and len(schedule.output["tomorrow"]) == 2


async def test_lookups_match_what_the_caller_said_as_transcribed(gateway) -> None:
    """Digits said in kana with fillers and 「の」, names in either kana and any width: the same record."""
    said = "えーと、ぜろきゅうぜろのいちにーさんよんのごーろくななはち"
    customer = await gateway.registry.call("get_customer_info", {"phone_number": said}, ctx(gateway))
    assert customer.output["name"] == "佐藤 花子" and customer.output["phone"] == "090-1234-5678"
    assert customer.output["phone_spoken"] == "ゼロキュウゼロ、イチニーサンヨン、ゴーロクナナハチ"
    with_no = ToolContext(session_id="s-1", store=gateway.store, readings=parse_readings("phone_group_separator: の", "t"))
    customer = await gateway.registry.call("get_customer_info", {"phone_number": said}, with_no)
    assert customer.output["phone_spoken"] == "ゼロキュウゼロノイチニーサンヨンノゴーロクナナハチ"  # the deployment's separator
    for name in ("たなか", "タナカ", "ﾀﾅｶ"):
        driver = await gateway.registry.call("identify_driver", {"vehicleNumber": "いちにーさんよん", "name": name}, ctx(gateway))
        assert driver.output["identified"], name
    wrong = await gateway.registry.call("identify_driver", {"vehicleNumber": "千二百三十四", "name": "すずき"}, ctx(gateway))
    assert not wrong.output["identified"] and wrong.output["vehicle_number_spoken"] == "イチ ニー サン ヨン"
    locations = await gateway.registry.call("list_locations", {}, ctx(gateway))
    hours = {loc["id"]: loc["hours_spoken"] for loc in locations.output["locations"]}
    assert hours["tokyo-station"] == "ハチジカラニジュウジマデ" and hours["haneda"] == "シチジカラニジュウサンジマデ"
    period = {"locationId": "tokyo-station", "startDate": "2030-07-01", "endDate": "2030-07-02", "vehicleType": "compact"}
    availability = await gateway.registry.call("get_availability", period, ctx(gateway))
    assert availability.output["available"][0]["daily_rate_spoken"] == "ロクセンロッピャクエン"
    schedule = await gateway.registry.call("get_driver_schedule", {"vehicleNumber": "1234"}, ctx(gateway))
    assert all(stop["arrive_spoken"].startswith(("ゴゼン", "ゴゴ")) for stop in schedule.output["today"])


async def test_a_handoff_code_said_in_kana_continues_the_conversation(gateway) -> None:
    await gateway.store.start_conversation("web-first", "webrtc", "support-desk", "browser", 1.9e9)
    code = await gateway.handoffs.issue("web-first")
    said = "えーと、" + "の".join(to_hiragana(readings.read_code(code)).split())
    outcome = await gateway.registry.call("continue_conversation", {"code": said}, ctx(gateway))
    assert outcome.ok and outcome.output["continued_from"] == "web-first", outcome.output
