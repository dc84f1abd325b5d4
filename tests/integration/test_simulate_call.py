"""`voice-gateway simulate-call` plays a phone call against a running gateway and reports what the caller heard."""

import argparse
import io
import wave
from contextlib import redirect_stdout

from gateway.app import create_app
from gateway.emulators.acs import DEFAULT_ACCESS_KEY
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY
from gateway.simulate import simulate_call
from tests.conftest import make_settings, speech


async def test_simulate_call_reports_what_the_caller_heard(tmp_path) -> None:
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script.replies("こんにちは、ご用件をどうぞ。"), pacing=Pacing(realtime_factor=4))
    acs_port, gw_port = free_port(), free_port()
    async with realtime.serve() as rt_url:
        settings = make_settings(
            tmp_path,
            public_base_url=f"http://127.0.0.1:{gw_port}",
            acs_endpoint=f"http://127.0.0.1:{acs_port}",
            acs_access_key=DEFAULT_ACCESS_KEY,
            openai_api_key=OPENAI_KEY,
            openai_base_url=f"{rt_url}/v1",
            event_grid_secret="eg-code",  # the command rings like the Event Grid subscription would
        )
        async with serve_app(create_app(settings), port=gw_port) as gw_url:
            out_wav = tmp_path / "heard.wav"
            args = argparse.Namespace(wav=speech("ja_greeting_reply"), gateway=gw_url, acs_port=acs_port, caller="+819011112222", listen=3.0, out=out_wav, code="eg-code")
            printed = io.StringIO()
            with redirect_stdout(printed):
                assert await simulate_call(args) == 0
    text = printed.getvalue()
    assert "greeting played: お電話ありがとうございます" in text
    assert "media streaming started" in text and "caller heard" in text
    with wave.open(str(out_wav)) as wav:
        assert wav.getframerate() == 24000 and wav.getnframes() > 24000 * 0.5
