"""Every way `simulate-call --carrier twilio` can fail is one line saying what to do (exit 1), never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

from gateway.app import create_app
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY
from gateway.emulators.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from gateway.simulate import simulate_call
from tests.conftest import make_settings
from tests.integration.test_simulate_twilio import twilio_args


async def _one_line(args: object) -> str:
    printed = io.StringIO()
    assert await simulate_call(args, out=printed) == 1  # type: ignore[arg-type]
    lines = printed.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulate-call: "), lines
    return lines[0]


async def test_unreachable_gateway() -> None:
    line = await _one_line(twilio_args(f"http://127.0.0.1:{free_port()}", free_port()))
    assert "cannot reach the gateway" in line and "./run.sh serve" in line


async def test_other_auth_token_and_no_twilio_channel(tmp_path: Path) -> None:
    twilio_port, gw_port = free_port(), free_port()
    settings = make_settings(
        tmp_path,
        public_base_url=f"http://127.0.0.1:{gw_port}",
        twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token="another-accounts-auth-token",
        twilio_api_base=f"http://127.0.0.1:{twilio_port}",
        openai_api_key=OPENAI_KEY,
        openai_base_url="http://127.0.0.1:1/v1",
    )
    async with serve_app(create_app(settings), port=gw_port) as url:
        line = await _one_line(twilio_args(url, twilio_port))
    assert "refused Twilio's signature" in line
    assert f"TWILIO_AUTH_TOKEN={DEFAULT_AUTH_TOKEN}" in line and f"TWILIO_API_BASE=http://127.0.0.1:{twilio_port}" in line
    assert f"PUBLIC_BASE_URL=http://127.0.0.1:{gw_port}" in line
    bare = make_settings(tmp_path, openai_api_key=OPENAI_KEY)  # a provider, but no Twilio line
    async with serve_app(create_app(bare), port=free_port()) as url:
        line = await _one_line(twilio_args(url, free_port()))
    assert "Twilio channel is off" in line and "TWILIO_ACCOUNT_SID=" in line


async def test_wrong_ai_provider_key_is_named(tmp_path: Path) -> None:
    """The gateway answers, then its Realtime provider refuses the key: it apologises and hangs up."""
    from gateway.emulators.realtime import RealtimeEmulator

    twilio_port, gw_port = free_port(), free_port()
    async with RealtimeEmulator(api_keys={"sk-the-right-key"}).serve() as rt_url:
        settings = make_settings(
            tmp_path,
            public_base_url=f"http://127.0.0.1:{gw_port}",
            twilio_account_sid=DEFAULT_ACCOUNT_SID,
            twilio_auth_token=DEFAULT_AUTH_TOKEN,
            twilio_api_base=f"http://127.0.0.1:{twilio_port}",
            openai_api_key="sk-a-wrong-key",
            openai_base_url=f"{rt_url}/v1",
        )
        async with serve_app(create_app(settings), port=gw_port) as url:
            printed = io.StringIO()
            assert await simulate_call(twilio_args(url, twilio_port, listen=20.0), out=printed) == 1
    last = printed.getvalue().splitlines()[-1]
    assert "AI provider could not be reached" in last and "doctor" in last
