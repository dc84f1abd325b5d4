import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from gateway.config import Settings, format_errors
from gateway.doctor import render, run_checks

SECRETS = {
    "OPENAI_API_KEY": "sk-secret-openai-1234567890",
    "AZURE_OPENAI_API_KEY": "azure-secret-abcdef",
    "AZURE_SPEECH_KEY": "speech-secret-zyxw",
    "ACS_ACCESS_KEY": "c2VjcmV0LWFjcy1rZXktdmFsdWU=",
    "CONSOLE_TOKEN": "console-secret-token",
    "MCP_AUTH_TOKEN": "mcp-secret-token",
}


def test_invalid_values_give_one_line_each() -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(_env_file=None, PORT="eighty", ACS_AUDIO_FORMAT="mp3", ACS_ENDPOINT="ftp://x", MCP_SERVERS="{oops")
    lines = format_errors(exc.value)
    assert len(lines) == 4
    assert any(line.startswith("PORT:") for line in lines)
    assert any(line.startswith("ACS_AUDIO_FORMAT:") for line in lines)
    assert any(line.startswith("ACS_ENDPOINT:") for line in lines)
    assert any(line.startswith("MCP_SERVERS:") for line in lines)


def test_aliases_and_single_mcp_form() -> None:
    settings = Settings(_env_file=None, APP_BASE_URL="https://gw.example/", MCP_SERVER_URL="http://127.0.0.1:9/mcp", MCP_SERVER_LABEL="crm", DATABASE_URL="postgresql://u:p@db/x")
    assert settings.public_base_url == "https://gw.example"
    assert [s.label for s in settings.mcp_servers] == ["crm"]
    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_doctor_reports_what_is_missing() -> None:
    bare = {c.name: c for c in run_checks(Settings(_env_file=None))}
    assert not bare["Phone (ACS)"].ok and "PUBLIC_BASE_URL" in bare["Phone (ACS)"].missing
    assert not bare["Browser WebRTC"].ok
    full = {c.name: c for c in run_checks(Settings(_env_file=None, OPENAI_API_KEY="k", ACS_ENDPOINT="http://127.0.0.1:1", ACS_ACCESS_KEY="a2V5", PUBLIC_BASE_URL="https://gw.example"))}
    assert full["Phone (ACS)"].ok and full["Browser WebRTC"].ok


def test_doctor_command_never_prints_a_secret(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "AZURE", "ACS", "MCP", "CONSOLE"))}
    env.update(SECRETS)
    env.update({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_REALTIME_DEPLOYMENT": "rt", "ACS_ENDPOINT": "https://acs.example", "MCP_SERVER_URL": "http://127.0.0.1:9/mcp", "AZURE_SPEECH_REGION": "japaneast"})
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "doctor"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    text = out.stdout + out.stderr
    assert "Realtime provider" in text and "Azure OpenAI" in text
    for secret in SECRETS.values():
        assert secret not in text
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in SECRETS.items()})
    rendered = render(run_checks(settings)) + repr(settings) + str(settings.model_dump())
    for secret in SECRETS.values():
        assert secret not in rendered


def test_bad_configuration_stops_serve_with_clear_lines(tmp_path) -> None:
    env = {**os.environ, "PORT": "-1", "ACS_ACCESS_KEY": "not base64!"}
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "serve"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("configuration error:")]
    assert len(errors) == 2 and "not base64!" not in out.stderr
