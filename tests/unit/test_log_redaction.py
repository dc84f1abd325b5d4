"""Every configured secret is cut out of every log record, message and traceback, whatever logger made it."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from gateway.logs import REDACTED, JsonFormatter, protect_secrets
from tests.conftest import make_settings

MCP_TOKEN = "mcp-token-unit-Qw3Er5Ty7"


def test_secrets_are_redacted_from_messages_and_tracebacks(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        mcp_servers=f'[{{"label": "docs", "url": "https://mcp.example/mcp", "token": "{MCP_TOKEN}", "native": true}}]',
        acs_connection_string="endpoint=https://x.communication.azure.com/;accesskey=c2VjcmV0LWFjcy1rZXk=",
    )
    protect_secrets(settings.secret_values())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    sdk = logging.getLogger("openai._base_client.unit")  # as the SDK logs request options at DEBUG
    sdk.addHandler(handler)
    sdk.setLevel(logging.DEBUG)
    try:
        sdk.debug("Request options: %s", {"json_data": {"tools": [{"type": "mcp", "authorization": MCP_TOKEN}]}})
        try:
            raise RuntimeError(f"refused key c2VjcmV0LWFjcy1rZXk= and {MCP_TOKEN}")
        except RuntimeError:
            sdk.exception("call failed")
    finally:
        sdk.removeHandler(handler)
    text = stream.getvalue()
    assert MCP_TOKEN not in text and "c2VjcmV0LWFjcy1rZXk=" not in text and "test-secret" not in text
    assert text.count(REDACTED) >= 3 and "RuntimeError" in text
