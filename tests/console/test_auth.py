"""The console refuses every request, page and scripts included, without the right CONSOLE_TOKEN, and does not
exist at all when no token is configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart

from .conftest import AUTH, TOKEN, console_app

ROUTES = [
    ("GET", "/console"),
    ("GET", "/console/assets/console.js"),
    ("GET", "/api/console/sessions"),
    ("GET", "/api/console/sessions/phone-x"),
    ("POST", "/api/console/sessions/phone-x/end"),
    ("GET", "/api/console/events"),
    ("GET", "/api/console/conversations"),
    ("GET", "/api/console/conversations/phone-x"),
    ("POST", "/api/console/agent"),
    ("POST", "/api/console/emulated-call"),
    ("GET", "/api/console/status"),
]


@pytest.fixture
async def app(tmp_path: Path):
    app = console_app(tmp_path)
    app.blueprints["console"].auth.throttle.per_minute = 10_000  # this test sends many wrong tokens on purpose
    async with app.test_app():
        yield app


async def _call(app: Quart, method: str, path: str, headers: dict[str, str] | None = None):
    client = app.test_client()
    if path.endswith("/events") and headers == AUTH:
        return None  # a stream that never ends; its success is tested in test_feed
    return await client.open(path, method=method, headers=headers or {}, json={} if method == "POST" else None)


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_refuses_missing_and_wrong_tokens(app: Quart, method: str, path: str) -> None:
    missing = await _call(app, method, path)
    assert missing.status_code == 401, path
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = await _call(app, method, path, {"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 403, path
    client = app.test_client()
    client.set_cookie("localhost", "console_token", "forged-cookie")
    forged = await client.open(path, method=method, json={} if method == "POST" else None)
    assert forged.status_code == 403, path
    right = await _call(app, method, path, AUTH)
    assert right is None or right.status_code not in (401, 403), path


async def test_the_page_without_a_token_is_only_the_login_form(app: Quart) -> None:
    response = await app.test_client().get("/console")
    body = await response.get_data(as_text=True)
    assert response.status_code == 401
    assert 'action="/api/console/login"' in body and "console.js" not in body


async def test_login_sets_an_httponly_strict_cookie_that_opens_the_console(app: Quart) -> None:
    client = app.test_client()
    refused = await client.post("/api/console/login", form={"token": "guess"})
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
    response = await client.post("/api/console/login", form={"token": TOKEN})
    assert response.status_code == 303 and response.headers["Location"] == "/console"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("console_token=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # a copied cookie does not reveal the token
    page = await client.get("/console")
    assert page.status_code == 200 and "console.js" in (await page.get_data(as_text=True))
    assert (await client.get("/api/console/sessions")).status_code == 200
    as_json = await app.test_client().post("/api/console/login", json={"token": TOKEN})
    assert as_json.status_code == 200 and "HttpOnly" in as_json.headers["Set-Cookie"]
    await client.post("/api/console/logout")
    assert (await client.get("/api/console/sessions")).status_code == 401


async def test_wrong_tokens_are_throttled(tmp_path: Path) -> None:
    app = console_app(tmp_path)
    async with app.test_app():
        client = app.test_client()
        statuses = [(await client.get("/api/console/status", headers={"Authorization": f"Bearer guess-{i}"})).status_code for i in range(25)]
        assert statuses[:20] == [403] * 20 and statuses[20:] == [429] * 5
        # even the right token waits out the minute from a throttled address
        assert (await client.get("/api/console/status", headers=AUTH)).status_code == 429
        assert (await client.post("/api/console/login", json={"token": TOKEN})).status_code == 429


async def test_without_console_token_the_console_is_disabled(tmp_path: Path) -> None:
    app = console_app(tmp_path, console_token=None)
    async with app.test_app():
        client = app.test_client()
        for method, path in [*ROUTES, ("POST", "/api/console/login")]:
            response = await client.open(path, method=method, headers=AUTH, json={} if method == "POST" else None)
            assert response.status_code == 404, path
            assert "CONSOLE_TOKEN" in (await response.get_json())["detail"]
