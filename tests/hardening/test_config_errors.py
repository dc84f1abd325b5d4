"""Configuration errors a user meets: each gets one clear line (what, where, how to fix), no traceback, fast; the
ones that would make the gateway answer callers wrongly or lose records stop start-up with a non-zero exit, and
``doctor`` says the same. ``voice-gateway`` runs as a subprocess, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.emulators.serving import free_port
from tests.hardening.conftest import write_profile

BOUND_S = 20  # "within 10 s" on a quiet machine; the bound leaves room for a busy one, retry loops take minutes


def clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    names = {name.upper() for name in Settings.model_fields} | {"APP_BASE_URL"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://127.0.0.1:9/v1", DATABASE_URL=f"sqlite:///{tmp_path / 'gw.db'}")
    env.update(values)
    return env


def run(tmp_path: Path, verb: str, **values: str) -> tuple[int, list[str], str]:
    args = [sys.executable, "-m", "gateway.cli", verb] + (["--host", "127.0.0.1", "--port", str(free_port())] if verb == "serve" else [])
    started = time.monotonic()
    out = subprocess.run(args, capture_output=True, text=True, env=clean_env(tmp_path, **values), cwd=tmp_path, timeout=60)
    assert time.monotonic() - started < BOUND_S, "took too long"
    text = out.stdout + out.stderr
    assert "Traceback" not in text, text
    return out.returncode, [line for line in text.splitlines() if line.strip()], text


def closed_port_url() -> str:
    return f"postgresql://gw:pg-secret-pw@127.0.0.1:{free_port()}/calls"


CASES = {
    "garbage ACS connection string": ({"ACS_CONNECTION_STRING": "garbage"}, "ACS_CONNECTION_STRING", "endpoint="),
    "ACS key not base64": ({"ACS_CONNECTION_STRING": "endpoint=https://x.communication.azure.com/;accesskey=not base64!"}, "ACS_CONNECTION_STRING", "base64"),
    "unreachable PostgreSQL": ({"DATABASE_URL": "closed"}, "DATABASE_URL", "127.0.0.1:"),
    "AGENT names no profile": ({"AGENT": "nope"}, "AGENT", "rent-a-car"),
    "AGENTS_DIR missing": ({"AGENTS_DIR": "no-such-folder"}, "AGENTS_DIR", "no-such-folder"),
    "URL without a host": ({"OPENAI_BASE_URL": "http://"}, "OPENAI_BASE_URL", "host"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_serve_stops_with_one_line(tmp_path: Path, case: str) -> None:
    values, setting, hint = CASES[case]
    if values.get("DATABASE_URL") == "closed":
        values = {"DATABASE_URL": closed_port_url()}
    code, lines, text = run(tmp_path, "serve", **values)
    assert code != 0
    assert len(lines) == 1, text
    assert lines[0].startswith(f"configuration error: {setting}:") and hint in lines[0], lines[0]
    assert "pg-secret-pw" not in text


@pytest.mark.parametrize("case", [c for c in CASES if c != "unreachable PostgreSQL"])
def test_doctor_says_the_same(tmp_path: Path, case: str) -> None:
    values, setting, hint = CASES[case]
    code, lines, text = run(tmp_path, "doctor", **values)
    assert code != 0
    flagged = [line for line in lines if f"{setting}:" in line]
    assert len(flagged) == 1 and hint in flagged[0], text


def test_loopback_http_urls_stay_valid(tmp_path: Path) -> None:
    loopback = "http://127.0.0.1:9"
    code, lines, text = run(
        tmp_path,
        "doctor",
        ACS_CONNECTION_STRING=f"endpoint={loopback}/;accesskey=a2V5",
        PUBLIC_BASE_URL=loopback,
        AZURE_OPENAI_ENDPOINT=loopback,
        COGNITIVE_SERVICES_ENDPOINT=loopback,
        ACS_JWKS_URL=f"{loopback}/keys",
        AZURE_SPEECH_HOST="ws://127.0.0.1:9",
        MCP_SERVER_URL=f"{loopback}/mcp",
    )
    assert "configuration error" not in text, text
    assert any(line.startswith("[ok ] Phone (ACS)") for line in lines), text


def test_a_profile_naming_an_unknown_tool_loads_without_it_and_says_so(tmp_path: Path) -> None:
    agents = write_profile(tmp_path, "odd-desk", ["get_current_time", "teleport_caller"])
    code, lines, text = run(tmp_path, "doctor", AGENTS_DIR=str(agents), AGENT="odd-desk")
    [warning] = [line for line in lines if "teleport_caller" in line]
    assert "odd-desk" in warning and "odd-desk.md" in warning and "without it" in warning
    assert any(line.startswith("[ok ] Agent profiles") for line in lines)

    # serve starts (a warning, not a refusal) and logs the same line once the tools are known
    env = clean_env(tmp_path, AGENTS_DIR=str(agents), AGENT="odd-desk")
    args = [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(free_port())]
    with subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            seen: list[str] = []
            deadline = time.monotonic() + 60
            assert proc.stdout is not None
            while time.monotonic() < deadline and not any("voice gateway ready" in line for line in seen):
                line = proc.stdout.readline()
                if not line:
                    break
                seen.append(line)
            assert any("voice gateway ready" in line for line in seen), "".join(seen)
            [logged] = [line for line in seen if "teleport_caller" in line]
            assert "WARNING" in logged and "odd-desk.md" in logged
        finally:
            proc.terminate()
            proc.wait(20)
