"""`voice-gateway simulate-call --carrier twilio` rings a running gateway as Twilio would and reports what the caller
heard; against the offline demo (nothing configured) it needs no set-up at all."""

import argparse
import io
import wave
from pathlib import Path

from gateway.app import create_app
from gateway.config import Settings
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY
from gateway.emulators.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from gateway.offline import SIMULATOR_TWILIO_URL, demo_stack, loopback_url, offline_values
from gateway.simulate import SAMPLE_CALLER_WAV, simulate_call
from tests.conftest import make_settings, speech


def twilio_args(gateway: str, twilio_port: int, **extra: object) -> argparse.Namespace:
    values = {"carrier": "twilio", "wav": SAMPLE_CALLER_WAV, "gateway": gateway, "twilio_port": twilio_port, "acs_port": free_port(),
              "caller": "+819011112222", "listen": 3.0, "out": None, "code": ""}
    values.update(extra)
    return argparse.Namespace(**values)


async def test_simulate_twilio_call_reports_what_the_caller_heard(tmp_path: Path) -> None:
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script.replies("こんにちは、ご用件をどうぞ。"), pacing=Pacing(realtime_factor=4))
    twilio_port, gw_port = free_port(), free_port()
    async with realtime.serve() as rt_url:
        settings = make_settings(
            tmp_path,
            public_base_url=f"http://127.0.0.1:{gw_port}",
            twilio_account_sid=DEFAULT_ACCOUNT_SID,
            twilio_auth_token=DEFAULT_AUTH_TOKEN,
            twilio_api_base=f"http://127.0.0.1:{twilio_port}",
            openai_api_key=OPENAI_KEY,
            openai_base_url=f"{rt_url}/v1",
        )
        async with serve_app(create_app(settings), port=gw_port) as gw_url:
            out_wav = tmp_path / "heard.wav"
            printed = io.StringIO()
            code = await simulate_call(twilio_args(gw_url, twilio_port, wav=speech("ja_greeting_reply"), out=out_wav), out=printed)
    text = printed.getvalue()
    assert code == 0, text
    assert "call connected (Twilio call CA" in text
    assert "greeting said: お電話ありがとうございます" in text
    assert "media stream started" in text and "call ended by the caller" in text
    assert "first agent audio" in text and "ms after the caller stopped" in text
    with wave.open(str(out_wav)) as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() > 8000 * 0.5


def test_offline_gateway_takes_twilio_calls_only_from_the_simulator(tmp_path: Path) -> None:
    """Nothing configured: the Twilio line exists, signed by the simulator's published account, REST on loopback."""

    class ProvidersOnly:  # offline_values asks the stack only for its provider settings
        def settings(self, base: str) -> dict[str, str]:
            return {"public_base_url": base, "openai_api_key": "sk-emulated"}

    values = offline_values(ProvidersOnly(), "http://127.0.0.1:8000")
    settings = Settings(_env_file=None, **values)
    assert settings.twilio_configured and settings.twilio_api_base == SIMULATOR_TWILIO_URL
    assert settings.twilio_account_sid == DEFAULT_ACCOUNT_SID
    assert settings.twilio_auth_token is not None and settings.twilio_auth_token.get_secret_value() == DEFAULT_AUTH_TOKEN
    from gateway.doctor import run_checks

    twilio = {c.name: c for c in run_checks(settings, emulated=True)}["Phone (Twilio)"]
    assert twilio.ok and "simulate-call --carrier twilio" in twilio.detail and DEFAULT_AUTH_TOKEN not in twilio.detail


async def test_simulate_twilio_call_against_the_offline_demo(tmp_path: Path) -> None:
    """The offline demo's own wiring (only the REST port moved off the fixed one, so tests can run side by side)."""
    twilio_port, gw_port = free_port(), free_port()
    async with demo_stack() as stack:
        values = offline_values(stack, loopback_url("127.0.0.1", gw_port))
        values.update(database_url=f"sqlite:///{tmp_path}/demo.db", gateway_secret="t", twilio_api_base=f"http://127.0.0.1:{twilio_port}")
        app = create_app(Settings(_env_file=None, **values), emulated=True)
        async with serve_app(app, port=gw_port) as url:
            printed = io.StringIO()
            code = await simulate_call(twilio_args(url, twilio_port, listen=4.0), out=printed)
    assert code == 0, printed.getvalue()
    assert "caller heard" in printed.getvalue()
