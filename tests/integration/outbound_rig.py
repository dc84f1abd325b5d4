"""Placing calls through ``POST /api/calls`` the way an integrator does (plain HTTP with the bearer token), and
reading their record back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

API_TOKEN = "api-token-for-tests-0123456789"
CALLER_ID = "+815012345678"
OUTBOUND_SETTINGS = {"api_token": API_TOKEN, "twilio_phone_number": CALLER_ID, "acs_phone_number": CALLER_ID}


async def post_call(base: str, body: Any, token: str | None = API_TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.post(f"{base}/api/calls", json=body, headers=headers) as r:
        return r.status, await r.json()


async def call_record(base: str, call_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/calls/{call_id}", headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def record_reaches(base: str, call_id: str, *status: str, timeout: float = 10.0) -> dict[str, Any]:
    """The call's record once its status is one of ``status`` (polled: the gateway's writer writes it)."""
    deadline = time.monotonic() + timeout
    while True:
        record = await call_record(base, call_id)
        if record["status"] in status:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_id} status {record['status']!r}, not {status!r}: {record}")
        await asyncio.sleep(0.05)
