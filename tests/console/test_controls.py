"""Controls and live views: the agent for new sessions, ending a live session, live lists and details, status."""

from __future__ import annotations

from quart import Quart

from gateway.console.emulated import loopback_base
from gateway.events import TranscriptFinal, TurnLatency
from gateway.hub import SessionInfo

from .conftest import AUTH, gateway_of


async def test_set_agent_changes_the_agent_for_new_sessions(app: Quart) -> None:
    gw = gateway_of(app)
    client = app.test_client()
    response = await client.post("/api/console/agent", json={"agent": "vehicle-dispatch"}, headers=AUTH)
    assert response.status_code == 200 and gw.agent == "vehicle-dispatch"
    unknown = await client.post("/api/console/agent", json={"agent": "no-such-agent"}, headers=AUTH)
    assert unknown.status_code == 400 and "rent-a-car" in (await unknown.get_json())["detail"]
    assert (await client.post("/api/console/agent", json={}, headers=AUTH)).status_code == 400
    assert gw.agent == "vehicle-dispatch"


async def test_end_session_calls_the_channels_end(app: Quart) -> None:
    gw = gateway_of(app)
    ended: list[str] = []

    async def hang_up() -> None:
        ended.append("phone-1")
        gw.hub.close("phone-1", "hung_up")

    gw.hub.open(SessionInfo("phone-1", "phone", "support-desk", "+81900000001"), end=hang_up)
    gw.hub.open(SessionInfo("web-1", "webrtc", "support-desk"))  # no end callable
    client = app.test_client()
    response = await client.post("/api/console/sessions/phone-1/end", headers=AUTH)
    assert response.status_code == 200 and ended == ["phone-1"] and gw.hub.get("phone-1") is None
    assert (await client.post("/api/console/sessions/web-1/end", headers=AUTH)).status_code == 409
    assert (await client.post("/api/console/sessions/nope/end", headers=AUTH)).status_code == 404


async def test_live_list_and_detail_come_from_the_hub(app: Quart) -> None:
    gw = gateway_of(app)
    gw.hub.open(SessionInfo("phone-2", "phone", "rent-a-car", "+81900000002"))
    gw.hub.publish("phone-2", TranscriptFinal("user", "もしもし"))
    gw.hub.publish("phone-2", TurnLatency(700.0))
    client = app.test_client()
    live = await (await client.get("/api/console/sessions", headers=AUTH)).get_json()
    assert [(s["session_id"], s["channel"], s["turns"], s["last_latency_ms"]) for s in live["sessions"]] == [("phone-2", "phone", 1, 700.0)]
    detail = await (await client.get("/api/console/sessions/phone-2", headers=AUTH)).get_json()
    assert [e["kind"] for e in detail["events"]] == ["session.started", "transcript.final", "latency"]
    assert detail["events"][1]["text"] == "もしもし" and detail["session"]["caller"] == "+81900000002"
    assert (await client.get("/api/console/sessions/nope", headers=AUTH)).status_code == 404


async def test_status_reports_the_doctor_checks_and_why_demo_calls_are_off(app: Quart) -> None:
    status = await (await app.test_client().get("/api/console/status", headers=AUTH)).get_json()
    names = {c["name"] for c in status["checks"]}
    assert {"Phone (ACS)", "Browser WebRTC", "Realtime provider", "Presenter console"} <= names
    assert next(c for c in status["checks"] if c["name"] == "Presenter console")["ok"] is True
    assert {a["name"] for a in status["agents"]} == {"support-desk", "rent-a-car", "vehicle-dispatch", "meeting-booking"}
    assert status["emulated_calls"]["available"] is False and status["emulated_calls"]["reason"]
    refused = await app.test_client().post("/api/console/emulated-call", headers=AUTH)
    assert refused.status_code == 503 and "demo call" in (await refused.get_json())["error"]


def test_demo_calls_reach_this_server_on_the_address_it_was_reached_on() -> None:
    assert loopback_base({"scheme": "http", "server": ("0.0.0.0", 8000)}) == "http://127.0.0.1:8000"
    assert loopback_base({"scheme": "http", "server": ("127.0.0.1", 43123)}) == "http://127.0.0.1:43123"
    assert loopback_base({"scheme": "https", "server": ("::", 8443, 0, 0)}) == "https://[::1]:8443"
