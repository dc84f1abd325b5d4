"""`voice-gateway serve` with nothing configured is the offline demo: a talking agent on the built-in emulators,
said in the log, /readyz, /api/status and doctor; `simulate-call` reaches it with no set-up; real calls never do."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from gateway import offline
from gateway.config import Settings
from gateway.doctor import render, run_checks
from gateway.emulators.serving import free_port
from gateway.emulators.stack import offline_stack
from gateway.simulate import SAMPLE_CALLER_WAV, simulate_call

CLI = Path(sys.executable).with_name("voice-gateway")


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process, timeout_s: float = 60) -> None:
    """Poll /healthz until it answers (bounded), failing early if the process died."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.returncode is None, "the gateway exited"
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "no /healthz"
            await asyncio.sleep(0.1)


@asynccontextmanager
async def served_bare(tmp_path: Path, *extra: str) -> AsyncIterator[tuple[str, Path]]:
    """`voice-gateway serve` as a newcomer runs it: a fresh directory, no variable of ours set."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(str(CLI), "serve", "--port", str(port), *extra, cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        await _wait_healthy(url, proc)
        yield url, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), timeout=30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _ready(http: aiohttp.ClientSession, url: str) -> dict:
    for _ in range(300):  # warm-ups may still run right after the socket is bound: bounded wait for readiness
        async with http.get(f"{url}/readyz") as r:
            if r.status == 200:
                return await r.json()
        await asyncio.sleep(0.1)
    raise AssertionError("never ready")


async def test_bare_serve_is_a_talking_offline_demo_and_simulate_call_just_works(tmp_path: Path) -> None:
    async with served_bare(tmp_path) as (url, log), aiohttp.ClientSession() as http:
        ready = await _ready(http, url)
        assert ready["status"] == "ready" and "offline" in ready["mode"]
        async with http.get(f"{url}/api/status") as r:
            status = await r.json()
        assert status["emulated"] is True and status["webrtc"] is True and status["cascade"] is True
        assert "checks" not in status  # configuration checks are the console's, not any visitor's
        token = re.search(r"console: .*\(token (\S+)\)", log.read_text()).group(1)
        async with http.get(f"{url}/api/console/status", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200, await r.text()
            checks = (await r.json())["checks"]
        assert checks[0]["name"] == "Offline demo" and "OFFLINE DEMO" in checks[0]["detail"]
        # the page's mic button: a key is minted (from the emulated provider)
        async with http.post(f"{url}/api/realtime/session", json={}, headers={"Origin": url}) as r:
            assert r.status == 200, await r.text()
        printed = io.StringIO()
        args = argparse.Namespace(wav=SAMPLE_CALLER_WAV, gateway=url, acs_port=offline.SIMULATOR_ACS_PORT, caller="+819011112222", listen=2.0, out=None, code="")
        assert await simulate_call(args, out=printed) == 0, printed.getvalue()
        assert "call connected" in printed.getvalue() and "caller heard" in printed.getvalue()
    text = log.read_text()
    assert "OFFLINE DEMO" in text and "console:" in text and "simulate-call --gateway" in text


def test_doctor_says_offline_and_a_provider_switches_it_off() -> None:
    bare = Settings(_env_file=None)
    assert offline.wanted(bare)
    checks = run_checks(bare)
    assert checks[0].name == "Offline demo" and "OFFLINE DEMO" in render(checks) and "OPENAI_API_KEY" in checks[0].missing[0]
    configured = Settings(_env_file=None, OPENAI_API_KEY="sk-real")
    assert not offline.wanted(configured)
    assert all(c.name != "Offline demo" for c in run_checks(configured))


async def test_real_acs_numbers_never_reach_the_emulated_agent() -> None:
    """A configured (real) ACS with no AI provider: the phone line is rewired to the loopback simulator and
    callbacks to loopback, so a call from the real number cannot be answered by the emulated agent."""
    real = Settings(_env_file=None, ACS_CONNECTION_STRING="endpoint=https://x.communication.azure.com/;accesskey=a2V5", PUBLIC_BASE_URL="https://gw.example")
    assert offline.wanted(real)
    async with offline_stack() as stack:
        values = offline.offline_values(stack, "http://127.0.0.1:8000", real)
    wired = Settings(**{**real.model_dump(), **values})
    assert wired.acs_connection_string is None and wired.acs_endpoint == offline.SIMULATOR_ACS_URL
    assert wired.public_base_url == "http://127.0.0.1:8000"


async def test_real_twilio_numbers_never_reach_the_emulated_agent() -> None:
    """A configured (real) Twilio account with no AI provider: the line takes only the simulator's signatures (its
    published account and token) and controls calls through the loopback simulator, never api.twilio.com."""
    from gateway.emulators.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

    real = Settings(
        _env_file=None, TWILIO_ACCOUNT_SID="AC" + "a" * 32, TWILIO_AUTH_TOKEN="the-real-accounts-token", PUBLIC_BASE_URL="https://gw.example"
    )
    assert offline.wanted(real)
    async with offline_stack() as stack:
        values = offline.offline_values(stack, "http://127.0.0.1:8000", real)
    wired = Settings(**{**real.model_dump(), **values})
    assert wired.twilio_account_sid == DEFAULT_ACCOUNT_SID and wired.twilio_api_base == offline.SIMULATOR_TWILIO_URL
    assert wired.twilio_auth_token is not None and wired.twilio_auth_token.get_secret_value() == DEFAULT_AUTH_TOKEN
    assert wired.public_base_url == "http://127.0.0.1:8000"  # a real Twilio request is signed over another URL too
