"""The client address every limiter counts by: forwarding headers only from FORWARDED_ALLOW_IPS, and the console's
wrong-token throttle per client, never locking out everyone (issue 9, point 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.guard import TrustedProxies, client_address
from tests.conftest import make_settings
from tests.console.conftest import TOKEN, console_app

PROXY = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1")


def test_headers_are_believed_only_from_trusted_proxies() -> None:
    spoof = {"X-Forwarded-For": "6.6.6.6"}
    assert client_address("203.0.113.9", spoof, PROXY) == "203.0.113.9"  # a visitor cannot pick its own key
    assert client_address("203.0.113.9", spoof, TrustedProxies.parse("")) == "203.0.113.9"
    assert client_address("10.1.2.3", {"X-Forwarded-For": "198.51.100.7"}, PROXY) == "198.51.100.7"
    # the entry the nearest untrusted hop added counts, not what the client wrote in front of it
    assert client_address("10.1.2.3", {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.9.9.9"}, PROXY) == "198.51.100.7"
    assert client_address("10.1.2.3", {"Forwarded": "for=198.51.100.8:4711;proto=https"}, PROXY) == "198.51.100.8"
    assert client_address("10.1.2.3", {"Forwarded": 'for="[2001:db8::1]:443"'}, PROXY) == "2001:db8::1"
    assert client_address("10.1.2.3", {}, PROXY) == "10.1.2.3"
    # "*": any peer, and the address that peer appended (right-most), never a client-written one
    anyone = TrustedProxies.parse("*")
    assert client_address("100.64.0.5", {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}, anyone) == "198.51.100.7"


def test_a_bad_forwarded_allow_ips_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        make_settings(tmp_path, forwarded_allow_ips="10.0.0.0/8, proxy.example")
    assert "proxy.example" in str(info.value) and "FORWARDED_ALLOW_IPS".lower() in str(info.value).lower()


async def test_mint_rate_limit_counts_each_visitor_behind_the_proxy(tmp_path: Path) -> None:
    """Behind ingress every TCP peer is the proxy: one visitor's sessions must not use up everyone's."""
    app = console_app(tmp_path, forwarded_allow_ips="*", mint_rate_per_minute=2)
    async with app.test_app():
        client = app.test_client()

        async def mint(visitor: str) -> int:
            headers = {"Origin": "http://localhost", "X-Forwarded-For": visitor}
            return (await client.post("/api/realtime/session", json={}, headers=headers)).status_code

        assert [await mint("198.51.100.1") for _ in range(3)][-1] == 429
        assert await mint("198.51.100.2") != 429  # no provider here (503), but not throttled


async def test_wrong_console_tokens_lock_out_only_their_sender(tmp_path: Path) -> None:
    app = console_app(tmp_path, forwarded_allow_ips="*")
    async with app.test_app():
        client = app.test_client()
        login = await client.post(
            "/api/console/login", json={"token": TOKEN}, headers={"X-Forwarded-For": "198.51.100.9"}
        )
        cookie = login.headers["Set-Cookie"].split(";", 1)[0]
        attacker = {"X-Forwarded-For": "203.0.113.66"}
        for i in range(30):
            await client.get("/api/console/status", headers={**attacker, "Authorization": f"Bearer guess-{i}"})
        blocked = await client.post("/api/console/login", json={"token": TOKEN}, headers=attacker)
        assert blocked.status_code == 429
        presenter = {"X-Forwarded-For": "198.51.100.10", "Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/api/console/status", headers=presenter)).status_code == 200
        # the logged-in presenter passes even from the attacker's own address (shared NAT)
        client.cookie_jar.clear()
        shared = {**attacker, "Cookie": cookie}
        assert (await client.get("/api/console/status", headers=shared)).status_code == 200
