import pytest

from gateway.app import create_app
from gateway.hub import SessionInfo
from tests.conftest import make_settings


@pytest.fixture
async def app(tmp_path):
    app = create_app(make_settings(tmp_path, max_body_bytes=4096))
    async with app.test_app() as test_app:
        yield test_app


async def test_health_and_readiness(app) -> None:
    client = app.test_client()
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and (await ready.get_json())["status"] == "ready"
    app.app.extensions["gateway"].draining = True
    assert (await client.get("/readyz")).status_code == 503


async def test_page_and_status_work_with_nothing_configured(app) -> None:
    client = app.test_client()
    page = await client.get("/")
    assert page.status_code == 200 and "Voice Gateway" in (await page.get_data(as_text=True))
    status = await (await client.get("/api/status")).get_json()
    assert status["webrtc"] is False and status["cascade"] is False and status["channels"] == []
    assert {a["name"] for a in status["agents"]} == {"support-desk", "rent-a-car", "vehicle-dispatch", "meeting-booking"}


async def test_anonymous_status_tells_only_what_the_page_needs(tmp_path) -> None:
    """Endpoints, the ACS audience, providers and the checks that are off are for the console's token holder."""
    secret_facts = {
        "acs_endpoint": "http://acs-internal.example:8081",
        "acs_resource_id": "6d0ad3f5-acs-audience-9f1e",
        "public_base_url": "https://gateway-internal.example",
        "mcp_server_url": "http://mcp-internal.example:9000/mcp",
        "azure_openai_endpoint": "http://aoai-internal.example:8082",
    }
    settings = make_settings(tmp_path, console_token="tok-console-1", acs_access_key="a2V5", openai_api_key="sk-x",
                             azure_openai_api_key="k", **secret_facts)  # fmt: skip
    app = create_app(settings)
    async with app.test_app() as test_app:
        client = test_app.test_client()
        anonymous = await client.get("/api/status")
        body = await anonymous.get_json()
        text = await anonymous.get_data(as_text=True)
        assert set(body) <= {"agent", "language", "agents", "webrtc", "cascade", "channels", "offline", "emulated"}
        assert all(set(a) == {"name", "title", "language"} for a in body["agents"])
        for name, value in secret_facts.items():
            assert value not in text and value.split("//")[-1].split(":")[0] not in text, name
        assert "missing" not in text and "checks" not in body and "azure" not in text.lower()
        console = await (await client.get("/api/console/status", headers={"Authorization": "Bearer tok-console-1"})).get_json()
        assert {c["name"] for c in console["checks"]} >= {"Phone (ACS)"} and console["realtime_provider"] == "openai"
        assert console["agent"] == body["agent"] and console["channels"] == body["channels"]


async def test_tool_endpoint_requires_the_session_token(app) -> None:
    client = app.test_client()
    gw = app.app.extensions["gateway"]
    body = {"session_id": "web-abc", "arguments": {}}
    assert (await client.post("/api/tools/get_current_time", json=body)).status_code == 401
    forged = await client.post("/api/tools/get_current_time", json=body, headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401
    token = gw.tokens.mint("web-abc", "support-desk")
    ok = await client.post("/api/tools/get_current_time", json=body, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and (await ok.get_json())["output"]["ok"] is True
    other = await client.post(
        "/api/tools/get_current_time",
        json={**body, "session_id": "web-other"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert other.status_code == 401
    unknown = await client.post("/api/tools/nope", json=body, headers={"Authorization": f"Bearer {token}"})
    assert unknown.status_code == 403 and (await unknown.get_json())["code"] == "not_allowed"
    bad = await client.post(
        "/api/tools/get_customer_info",
        json={**body, "arguments": {"phone_number": 5}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (await bad.get_json())["output"]["error"]["code"] == "bad_arguments"


async def test_a_session_token_opens_only_its_agents_tools_within_a_budget(tmp_path) -> None:
    app = create_app(make_settings(tmp_path, session_tool_calls=3))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        gw = app.extensions["gateway"]
        token = gw.tokens.mint("web-scope", "support-desk")
        auth = {"Authorization": f"Bearer {token}"}
        body = {"session_id": "web-scope", "arguments": {}}
        # rent-a-car's booking tool is not support-desk's: refused before it runs, and it spends no budget
        other = await client.post("/api/tools/create_reservation", json=body, headers=auth)
        assert other.status_code == 403 and (await other.get_json())["code"] == "not_allowed"
        statuses = [
            (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        over = await client.post("/api/tools/get_current_time", json=body, headers=auth)
        assert (await over.get_json())["code"] == "budget_exhausted"
        # the budget is the session's, not the visitor's: another session still has its own
        fresh = {"Authorization": f"Bearer {gw.tokens.mint('web-fresh', 'support-desk')}"}
        assert (
            await client.post("/api/tools/get_current_time", json={**body, "session_id": "web-fresh"}, headers=fresh)
        ).status_code == 200
        # a token cannot be re-labelled with another agent: the agent is inside the MAC
        expires, _agent, mac = token.split(".")
        relabelled = f"{expires}.{gw.tokens.mint('x', 'rent-a-car').split('.')[1]}.{mac}"
        forged = await client.post(
            "/api/tools/create_reservation", json=body, headers={"Authorization": f"Bearer {relabelled}"}
        )
        assert forged.status_code == 401


async def test_a_session_token_dies_with_its_session_and_expires(tmp_path) -> None:
    clock = [1_000_000.0]
    app = create_app(make_settings(tmp_path, session_token_ttl_s=600))
    async with app.test_app() as test_app:
        client = test_app.test_client()
        gw = app.extensions["gateway"]
        gw.tokens._clock = lambda: clock[0]
        body = {"session_id": "web-life", "arguments": {}}
        auth = {"Authorization": f"Bearer {gw.tokens.mint('web-life', 'support-desk')}"}
        assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 200
        clock[0] += 601
        assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 401
        clock[0] -= 601
        gw.hub.open(SessionInfo("web-life", "webrtc", "support-desk"))
        assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 200
        gw.hub.close("web-life", "completed")
        ended = await client.post("/api/tools/get_current_time", json=body, headers=auth)
        assert ended.status_code == 401
        assert (await client.post("/api/handoff", json={"session_id": "web-life"}, headers=auth)).status_code == 401


async def test_bad_requests_get_4xx_not_500(app) -> None:
    client = app.test_client()
    assert (
        await client.post("/api/incoming-call", data="not json", headers={"Content-Type": "application/json"})
    ).status_code == 400
    assert (await client.post("/api/incoming-call", json=[{"eventType": "x"}])).status_code == 400
    big = await client.post("/api/incoming-call", data="x" * 10000, headers={"Content-Type": "application/json"})
    assert big.status_code == 413
    assert (await client.get("/api/nothing-here")).status_code == 404


async def test_event_grid_validation_handshakes(app) -> None:
    client = app.test_client()
    body = [
        {
            "id": "1",
            "topic": "t",
            "subject": "",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "data": {"validationCode": "code-123", "validationUrl": "https://x"},
            "eventTime": "2026-01-01T00:00:00Z",
            "dataVersion": "1",
        }
    ]
    response = await client.post("/api/incoming-call", json=body, headers={"aeg-event-type": "SubscriptionValidation"})
    assert response.status_code == 200 and await response.get_json() == {"validationResponse": "code-123"}
    options = await client.options("/api/incoming-call", headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert options.status_code == 200 and options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
