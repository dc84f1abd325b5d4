"""History: ended conversations, searchable by caller, agent, channel, date and text, each with its transcript and
the summary written when it ended (a digest here: no chat model is configured)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest
from quart import Quart

from gateway.console.history import QueryError, parse_query
from gateway.events import ToolCallFinished, TranscriptFinal
from gateway.hub import SessionInfo

from .conftest import AUTH, gateway_of

JST = dt.timezone(dt.timedelta(hours=9))


async def _conversation(app: Quart, sid: str, channel: str, agent: str, caller: str, lines: list[tuple[str, str]]) -> None:
    gw = gateway_of(app)
    gw.hub.open(SessionInfo(sid, channel, agent, caller))
    for role, text in lines:
        gw.hub.publish(sid, TranscriptFinal(role, text))  # type: ignore[arg-type]
    gw.hub.publish(sid, ToolCallFinished("c1", "get_current_time", "{}", True, '{"time":"10:00"}', 3.0))
    gw.hub.close(sid, "hung_up")


@pytest.fixture
async def history(app: Quart) -> Quart:
    await _conversation(app, "phone-a", "phone", "rent-a-car", "+819011112222", [("user", "レンタカーを予約したいです"), ("assistant", "承知しました")])
    await _conversation(app, "webrtc-b", "webrtc", "support-desk", "browser", [("user", "請求書について"), ("assistant", "確認します")])
    await _conversation(app, "phone-c", "phone", "support-desk", "+81312345678", [("user", "解約したい"), ("assistant", "お手続きします")])
    gw = gateway_of(app)
    gw.hub.open(SessionInfo("phone-live", "phone", "support-desk", "+819099998888"))  # still live: not history
    await gw.writer.flush()
    return app


async def _search(app: Quart, **params: str) -> list[str]:
    response = await app.test_client().get("/api/console/conversations", query_string=params, headers=AUTH)
    assert response.status_code == 200, await response.get_data(as_text=True)
    return sorted(c["id"] for c in (await response.get_json())["conversations"])


async def test_search_by_caller_agent_channel_text_and_date(history: Quart) -> None:
    assert await _search(history) == ["phone-a", "phone-c", "webrtc-b"]
    assert await _search(history, caller="1111") == ["phone-a"]
    assert await _search(history, agent="support-desk") == ["phone-c", "webrtc-b"]
    assert await _search(history, channel="phone") == ["phone-a", "phone-c"]
    assert await _search(history, q="請求書") == ["webrtc-b"]
    assert await _search(history, q="お手続き", channel="phone") == ["phone-c"]
    today = dt.datetime.now(JST).date()
    tz = {"tz": "540"}
    assert await _search(history, since=today.isoformat(), until=today.isoformat(), **tz) == ["phone-a", "phone-c", "webrtc-b"]
    assert await _search(history, until=(today - dt.timedelta(days=1)).isoformat(), **tz) == []
    assert await _search(history, since=(today + dt.timedelta(days=1)).isoformat(), **tz) == []
    an_hour_ago = dt.datetime.fromtimestamp(time.time() - 3600, dt.UTC).isoformat()
    assert await _search(history, since=an_hour_ago, caller="3456") == ["phone-c"]


async def test_a_conversation_has_its_transcript_tool_calls_and_summary(history: Quart) -> None:
    response = await history.test_client().get("/api/console/conversations/phone-a", headers=AUTH)
    c = await response.get_json()
    assert c["caller"] == "+819011112222" and c["agent"] == "rent-a-car" and c["outcome"] == "hung_up"
    assert [(t["role"], t["text"]) for t in c["turns"]] == [("user", "レンタカーを予約したいです"), ("assistant", "承知しました")]
    assert c["tool_calls"][0]["name"] == "get_current_time" and c["tool_calls"][0]["result"] == '{"time":"10:00"}'
    assert "レンタカーを予約したいです" in c["summary"]  # the digest written without a chat model
    assert await _search(history, q="自動まとめ") == ["phone-a", "phone-c", "webrtc-b"]  # the summary is searchable
    missing = await history.test_client().get("/api/console/conversations/nope", headers=AUTH)
    assert missing.status_code == 404


async def test_bad_search_parameters_are_400_with_the_reason(app: Quart) -> None:
    client = app.test_client()
    for params, word in [({"since": "yesterday"}, "since"), ({"tz": "JST"}, "tz"), ({"limit": "x"}, "limit"), ({"since": "2026-01-02", "until": "2026-01-01"}, "before")]:
        response = await client.get("/api/console/conversations", query_string=params, headers=AUTH)
        assert response.status_code == 400 and word in (await response.get_json())["detail"]


def test_dates_are_read_in_the_presenters_time_zone() -> None:
    query = parse_query({"since": "2026-04-01", "until": "2026-04-01", "tz": "540"})
    assert query.since == dt.datetime(2026, 3, 31, 15, tzinfo=dt.UTC)
    assert query.until == dt.datetime(2026, 4, 1, 15, tzinfo=dt.UTC)  # the whole day of April 1st in Japan
    assert parse_query({"since": "2026-04-01T09:00:00+09:00"}).since == dt.datetime(2026, 4, 1, 0, tzinfo=dt.UTC)
    assert parse_query({"limit": "100000"}).limit == 200
    with pytest.raises(QueryError):
        parse_query({"q": "x" * 500})


async def test_a_search_exports_as_csv_with_a_bom_for_excel(history: Quart) -> None:
    client = history.test_client()
    response = await client.get("/api/console/conversations.csv", query_string={"agent": "support-desk"}, headers=AUTH)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = await response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel in Japan reads the Japanese summary right
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert sorted(r["id"] for r in rows) == ["phone-c", "webrtc-b"]  # the same search as the view, live calls left out
    assert all(r["channel"] and r["started_at"] and r["ended_at"] and r["duration_s"].isdigit() for r in rows)
    refused = await client.get("/api/console/conversations.csv")
    assert refused.status_code == 401
    bad = await client.get("/api/console/conversations.csv", query_string={"since": "tomorrow"}, headers=AUTH)
    assert bad.status_code == 400
