"""An MCP server on loopback (the mcp package's own server): its tools join the registry and are called through it."""

import pytest
from mcp.server.fastmcp import FastMCP

from gateway.config import McpServer
from gateway.emulators.serving import serve_app
from gateway.tools import ToolContext, ToolRegistry
from gateway.tools.mcp_source import load_mcp_tools, native_mcp_tools


def weather_server() -> FastMCP:
    server = FastMCP("weather", stateless_http=True)

    @server.tool()
    def forecast(city: str, days: int = 1) -> str:
        """Weather forecast for a Japanese city."""
        return f"{city}: 晴れ ({days}日間)"

    @server.tool()
    def secret_admin() -> str:
        """Not for the agent."""
        return "nope"

    return server


async def test_mcp_tools_are_listed_and_called_through_the_registry() -> None:
    async with serve_app(weather_server().streamable_http_app()) as url:
        registry = ToolRegistry()
        status = await load_mcp_tools(registry, [McpServer(label="wx", url=f"{url}/mcp", allowed_tools=["forecast"])])
        assert status == {"wx": "ok: 1 tools"}
        assert registry.names() == ["wx__forecast"]
        schema = registry.realtime_schemas(["wx__forecast"])[0]
        assert schema["parameters"]["properties"]["city"]["type"] == "string"
        ctx = ToolContext(session_id="s", store=None)  # type: ignore[arg-type]
        outcome = await registry.call("wx__forecast", {"city": "東京", "days": 2}, ctx)
        assert outcome.ok and "東京: 晴れ (2日間)" in outcome.to_json()
        bad = await registry.call("wx__forecast", {"days": 2}, ctx)
        assert bad.output["error"]["code"] == "bad_arguments"


async def test_an_unreachable_mcp_server_is_reported_not_fatal() -> None:
    registry = ToolRegistry()
    status = await load_mcp_tools(registry, [McpServer(label="down", url="http://127.0.0.1:9/mcp")], timeout=2)
    assert status["down"].startswith("unreachable") and registry.names() == []


@pytest.mark.parametrize("token", [None, "tok"])
def test_native_mcp_servers_become_realtime_mcp_tools(token) -> None:
    server = McpServer(label="docs", url="https://mcp.example/mcp", native=True, token=token, allowed_tools=["search"])
    [tool] = native_mcp_tools([server], ("docs",))
    assert tool["type"] == "mcp" and tool["server_label"] == "docs" and tool["allowed_tools"] == ["search"]
    assert ("authorization" in tool) == bool(token)
