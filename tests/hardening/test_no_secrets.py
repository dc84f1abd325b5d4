"""No secret leaves the gateway: a whole emulated phone call with every secret configured and logging at DEBUG (as
``LOG_LEVEL=DEBUG`` configures it), then every public surface is read back. None of the provider keys, the gateway
secret, the console token or a call's URL token may appear in a log record, a served file or any response,
including error responses; the settings' repr and the doctor's report hide them too."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from mcp.server.fastmcp import FastMCP
from pydantic import ValidationError

from gateway.config import format_errors
from gateway.doctor import render, run_checks
from gateway.emulators.acs import Silence
from gateway.emulators.acs.events import incoming_call_event
from gateway.emulators.realtime import CallTool, Say, Script
from gateway.emulators.serving import serve_app
from gateway.emulators.stack import OPENAI_KEY, SPEECH_KEY
from gateway.logs import configure_logging
from tests.conftest import make_settings, speech
from tests.hardening.conftest import wait_until
from tests.integration.phone_rig import phone_rig

logger = logging.getLogger(__name__)

GATEWAY_SECRET = "gw-secret-7QpZr2xWv9LmK4sT"
CONSOLE_TOKEN = "console-token-Hn3Jk8Yb5Dq1Fz6U"
MCP_TOKEN = "mcp-token-Zk4Rw8Pq2Lx6Nv1B"  # a native MCP server's: travels in the Realtime session the gateway sets
MCP_LOCAL_TOKEN = "mcp-local-Gt5Hy9Ub3Jm7Kc2D"  # a gateway-side MCP server's: the mcp client's Authorization header
WEB_DIR = Path(str(resources.files("web")))
WEB_FILES = sorted(
    p.relative_to(WEB_DIR).as_posix() for p in WEB_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts
)


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The CLI's logging set-up at DEBUG, with pytest's capture handler still attached to the root logger."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    muted = ("httpx", "httpcore", "azure.core.pipeline", "websockets", "aiosqlite", "hpack", "mcp", "openai")
    levels = {name: logging.getLogger(name).level for name in muted}
    configure_logging("DEBUG")
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


def gateway_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record the gateway's process wrote (the emulators play the outside services and are left out)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records if not r.name.startswith("gateway.emulators"))


async def fetch(http: aiohttp.ClientSession, method: str, url: str, **kwargs) -> tuple[int, str]:
    async with http.request(method, url, **kwargs) as response:
        body = await response.text(errors="replace")
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        return response.status, f"{headers}\n\n{body}"


def agents_with_mcp(tmp_path: Path) -> Path:
    """The shipped profiles, support-desk also using the native MCP server ``docs`` and the local one ``wx``."""
    folder = tmp_path / "agents"
    folder.mkdir()
    shipped = Path(str(resources.files("gateway") / "agents"))
    for profile in shipped.glob("*.md"):
        text = profile.read_text(encoding="utf-8")
        if profile.stem == "support-desk":
            text = text.replace("\ntools: [", "\nmcp_servers: [docs, wx]\ntools: [", 1)
        (folder / profile.name).write_text(text, encoding="utf-8")
    return folder


def local_mcp_server() -> FastMCP:
    server = FastMCP("weather", stateless_http=True)

    @server.tool()
    def forecast(city: str) -> str:
        """Weather forecast for a Japanese city."""
        return f"{city}: 晴れ"

    return server


async def test_no_secret_in_logs_files_or_responses(tmp_path: Path, debug_logging: pytest.LogCaptureFixture) -> None:
    script = Script(
        steps=[CallTool("get_current_time", {}, then=Say(text="ただいまの時刻をお知らせします。"))],
        user_transcripts=["今何時ですか。"],
    )
    async with (
        serve_app(local_mcp_server().streamable_http_app()) as mcp_url,
        phone_rig(
            tmp_path, script, gateway_secret=GATEWAY_SECRET, console_token=CONSOLE_TOKEN, log_level="DEBUG",
            agents_dir=agents_with_mcp(tmp_path),
            mcp_servers=json.dumps([
                {"label": "docs", "url": "https://mcp.example/mcp", "token": MCP_TOKEN, "native": True},
                {"label": "wx", "url": f"{mcp_url}/mcp", "token": MCP_LOCAL_TOKEN},
            ]),
        ) as rig,
    ):  # fmt: skip
        secrets = {
            "OPENAI_API_KEY": OPENAI_KEY,
            "ACS_ACCESS_KEY": rig.acs.config.access_key,
            "GATEWAY_SECRET": GATEWAY_SECRET,
            "CONSOLE_TOKEN": CONSOLE_TOKEN,
            "AZURE_SPEECH_KEY": SPEECH_KEY,
            "MCP token (native)": MCP_TOKEN,
            "MCP token (gateway-side)": MCP_LOCAL_TOKEN,
        }
        assert rig.gw.mcp_status["wx"] == "ok: 1 tools"  # the gateway-side server really was reached
        assert rig.gw.settings.openai_api_key.get_secret_value() == OPENAI_KEY  # really configured
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"), script=[Silence(3000)])
        assert call.incoming_response.status == 200
        session = await rig.realtime.wait_for_session(1, timeout=15)
        await session.wait_for(lambda s: len(s.responses) >= 2 and s.responses[1].status == "completed", timeout=20)
        await wait_until(lambda: call.timeline.received, 10, "agent audio")
        query = parse_qs(urlsplit(call.answer_body["callbackUri"]).query)
        secrets["the call's URL token"] = query["token"][0]

        async with aiohttp.ClientSession() as http:
            seen: dict[str, str] = {}
            for path in [
                "/",
                "/api/status",
                "/healthz",
                "/readyz",
                "/console",
                "/api/console/sessions",
                "/nothing-here",
                "/static/../gateway/config.py",
                "/static/%2e%2e/gateway/config.py",
            ]:
                status, text = await fetch(http, "GET", rig.url + path)
                assert status < 500, (path, status)
                seen[f"GET {path} ({status})"] = text
            for rel in WEB_FILES:
                status, text = await fetch(http, "GET", f"{rig.url}/static/{rel}")
                seen[f"GET /static/{rel} ({status})"] = text
                if rel.startswith("console/") and not rel.endswith(".html"):
                    status, text = await fetch(http, "GET", f"{rig.url}/console/assets/{rel.removeprefix('console/')}")
                    seen[f"GET /console/assets/{rel} ({status})"] = text
            assert any(k.startswith("GET /static/app.js (200)") for k in seen)

            # error responses, each with the most tempting input
            posts = {
                "bad event grid": (
                    "/api/incoming-call",
                    {"data": b"\x80not json", "headers": {"Content-Type": "application/json"}},
                ),
                "unknown call context": (
                    "/api/incoming-call",
                    {
                        "json": [
                            incoming_call_event(
                                caller="+81",
                                callee="+81",
                                incoming_call_context="forged",
                                server_call_id="s",
                                correlation_id="c",
                            )
                        ]
                    },
                ),
                "too big": (
                    "/api/incoming-call",
                    {
                        "data": b"[" + b" " * (rig.gw.settings.max_body_bytes + 10) + b"]",
                        "headers": {"Content-Type": "application/json"},
                    },
                ),
                "forged callback": (
                    f"/api/callbacks/{'0' * 32}?token=guess",
                    {"json": [{"type": "Microsoft.Communication.CallDisconnected", "data": {}}]},
                ),
                "tool without token": (
                    "/api/tools/get_current_time",
                    {"json": {"session_id": "web-x", "arguments": {}}},
                ),
                "console wrong token": ("/api/console/login", {"json": {"token": "wrong"}}),
                "console right token": ("/api/console/login", {"json": {"token": CONSOLE_TOKEN}}),
                "webrtc mint": ("/api/realtime/session", {"json": {}, "headers": {"Origin": rig.url}}),
                "webrtc events": (
                    "/api/realtime/events",
                    {"data": b"{}", "headers": {"Content-Type": "application/json"}},
                ),
            }
            for name, (path, kwargs) in posts.items():
                status, text = await fetch(http, "POST", rig.url + path, **kwargs)
                assert status < 500 or name == "unknown call context", (name, status, text)
                seen[f"POST {name} ({status})"] = text
            assert any(k.startswith("POST unknown call context (502)") for k in seen)
            assert any(k.startswith("POST webrtc mint (200)") for k in seen)  # an ephemeral key, never ours
            console = {"Authorization": f"Bearer {CONSOLE_TOKEN}"}
            for path in ("/api/console/sessions", "/api/console/status", "/api/console/conversations"):
                status, text = await fetch(http, "GET", rig.url + path, headers=console)
                assert status == 200, (path, status)
                seen[f"GET {path} as the console ({status})"] = text

        await call.hang_up()
        await wait_until(
            lambda: not [s for s in rig.gw.hub.live_sessions() if s.channel == "phone"], 10, "the call ended"
        )
        await rig.gw.writer.flush()
        [conversation] = await rig.gw.store.search_conversations(channel="phone")
        record = await rig.gw.store.conversation(conversation["id"])
        assert record["tool_calls"] and record["summary"]
        seen["the stored record"] = json.dumps(record, ensure_ascii=False, default=str)

        leaked = {where: found for where, text in seen.items() if (found := leaks(text, secrets))}
        assert leaked == {}
        log_text = gateway_log_text(debug_logging)
        assert "answered call" in log_text and "realtime session ready" in log_text  # the call really was logged
        assert any(r.levelno == logging.DEBUG for r in debug_logging.records)
        assert leaks(log_text, secrets) == []

        settings = rig.gw.settings
        for shown in (repr(settings), str(settings), settings.model_dump_json(), render(run_checks(settings))):
            assert leaks(shown, secrets) == []


def test_invalid_settings_are_reported_without_their_values(tmp_path: Path) -> None:
    bad_key = "not-base64-but-secret!!"
    with pytest.raises(ValidationError) as info:
        make_settings(
            tmp_path, acs_endpoint="http://127.0.0.1:1", acs_access_key=bad_key, openai_base_url="ftp://secret-host"
        )
    lines = format_errors(info.value)
    assert any(line.startswith("ACS_ACCESS_KEY:") for line in lines)
    assert not any(bad_key in line or "secret-host" in line for line in lines)
