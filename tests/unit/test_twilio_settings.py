"""Twilio settings: one clear line per bad value, doctor names the line and never the token, and the Realtime
session asks for μ-law when the carrier's audio passes through."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config import Settings, format_errors
from gateway.doctor import render, run_checks
from gateway.engines.realtime_wire import session_config
from gateway.profiles import ProfileLibrary

TOKEN = "twilio-secret-auth-token-123"
SID = "AC" + "0123456789abcdef" * 2


def test_bad_twilio_values_give_one_line_each() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(_env_file=None, TWILIO_ACCOUNT_SID="SK123", TWILIO_API_BASE="ftp://x", TWILIO_AUDIO="opus")
    lines = format_errors(exc.value)
    assert sorted(line.split(":")[0] for line in lines) == ["TWILIO_ACCOUNT_SID", "TWILIO_API_BASE", "TWILIO_AUDIO"]
    assert all("\n" not in line for line in lines)


def test_defaults_are_twilios_own_api_and_mulaw_passthrough() -> None:
    settings = Settings(_env_file=None)
    assert settings.twilio_api_base == "https://api.twilio.com"
    assert settings.twilio_audio == "pcmu" and settings.twilio_say_voice
    assert not settings.twilio_configured


def test_doctor_reports_the_twilio_line_without_its_token() -> None:
    bare = {c.name: c for c in run_checks(Settings(_env_file=None))}
    assert not bare["Phone (Twilio)"].ok and bare["Phone (Twilio)"].optional
    assert "TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN" in bare["Phone (Twilio)"].missing
    settings = Settings(
        _env_file=None, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_PHONE_NUMBER="+815012345678",
        PUBLIC_BASE_URL="https://gw.example", OPENAI_API_KEY="sk-x",
    )
    checks = run_checks(settings)
    twilio = {c.name: c for c in checks}["Phone (Twilio)"]
    assert twilio.ok and "+815012345678" in twilio.detail and "pcmu" in twilio.detail
    assert TOKEN not in render(checks)
    assert TOKEN in settings.secret_values()  # so log redaction knows it


@pytest.mark.parametrize("beta", [False, True])
def test_the_realtime_session_speaks_mulaw_when_it_passes_through(beta: bool) -> None:
    profile = ProfileLibrary(None).get("support-desk")
    session = session_config(profile, "x", [], voice="marin", transcription_model="t", beta=beta, audio_format="pcmu")
    if beta:
        assert session["input_audio_format"] == session["output_audio_format"] == "g711_ulaw"
    else:
        assert session["audio"]["input"]["format"] == session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    pcm = session_config(profile, "x", [], voice="marin", transcription_model="t", beta=beta)
    assert (pcm["input_audio_format"] if beta else pcm["audio"]["input"]["format"]["type"]) in ("pcm16", "audio/pcm")
