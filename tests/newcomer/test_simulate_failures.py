"""Every way `simulate-call` can fail is one line saying what to do (exit 1), never a traceback."""

from __future__ import annotations

import argparse
import base64
import io
from pathlib import Path

from gateway.app import create_app
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY
from gateway.simulate import SAMPLE_CALLER_WAV, simulate_call
from tests.conftest import make_settings


def _args(gateway: str, acs_port: int, **extra: object) -> argparse.Namespace:
    values = {"wav": SAMPLE_CALLER_WAV, "gateway": gateway, "acs_port": acs_port, "caller": "+819011112222", "listen": 1.0, "out": None, "code": ""}
    values.update(extra)
    return argparse.Namespace(**values)


async def _one_line(args: argparse.Namespace) -> str:
    printed = io.StringIO()
    assert await simulate_call(args, out=printed) == 1
    lines = printed.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulate-call: "), lines
    return lines[0]


async def test_missing_and_unreadable_wav(tmp_path: Path) -> None:
    assert "no such file" in await _one_line(_args("http://127.0.0.1:1", free_port(), wav=tmp_path / "caller.wav"))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav at all")
    assert "not a readable WAV" in await _one_line(_args("http://127.0.0.1:1", free_port(), wav=junk))


async def test_unreachable_gateway() -> None:
    line = await _one_line(_args(f"http://127.0.0.1:{free_port()}", free_port()))
    assert "cannot reach the gateway" in line and "./run.sh serve" in line


async def test_wrong_key_secret_and_no_phone_channel(tmp_path: Path) -> None:
    acs_port, gw_port = free_port(), free_port()
    other_key = base64.b64encode(b"another resource's key, not the emulator's").decode()
    settings = make_settings(
        tmp_path,
        public_base_url=f"http://127.0.0.1:{gw_port}",
        acs_endpoint=f"http://127.0.0.1:{acs_port}",
        acs_access_key=other_key,
        openai_api_key=OPENAI_KEY,
        openai_base_url="http://127.0.0.1:1/v1",
        event_grid_secret="eg-code",
    )
    async with serve_app(create_app(settings), port=gw_port) as url:
        assert "--code" in await _one_line(_args(url, acs_port))
        line = await _one_line(_args(url, acs_port, code="eg-code"))
        assert "another ACS key" in line and f"ACS_ENDPOINT=http://127.0.0.1:{acs_port}" in line and "ACS_ACCESS_KEY=" in line
    bare = make_settings(tmp_path, openai_api_key=OPENAI_KEY)  # a provider, but no phone channel
    async with serve_app(create_app(bare), port=free_port()) as url:
        assert "phone channel is off" in await _one_line(_args(url, free_port()))


async def test_wrong_ai_provider_key_is_named(tmp_path: Path) -> None:
    """The gateway answers, then its Realtime provider refuses the key: it apologises and hangs up."""
    from gateway.emulators.acs import DEFAULT_ACCESS_KEY
    from gateway.emulators.realtime import RealtimeEmulator

    acs_port, gw_port = free_port(), free_port()
    async with RealtimeEmulator(api_keys={"sk-the-right-key"}).serve() as rt_url:
        settings = make_settings(
            tmp_path,
            public_base_url=f"http://127.0.0.1:{gw_port}",
            acs_endpoint=f"http://127.0.0.1:{acs_port}",
            acs_access_key=DEFAULT_ACCESS_KEY,
            openai_api_key="sk-a-wrong-key",
            openai_base_url=f"{rt_url}/v1",
        )
        async with serve_app(create_app(settings), port=gw_port) as url:
            printed = io.StringIO()
            assert await simulate_call(_args(url, acs_port, listen=20.0), out=printed) == 1
    last = printed.getvalue().splitlines()[-1]
    assert "AI provider could not be reached" in last and "doctor" in last
