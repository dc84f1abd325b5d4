"""MCP servers as one more tool source: their tools join the shared registry and so work on every channel.

Each call opens its own streamable-HTTP session: a few extra round trips, but a restarted or flaky MCP server
never leaves a dead connection behind inside a live phone call. Servers marked ``native`` are instead handed to
the Realtime provider as ``type: "mcp"`` tools (see ``native_mcp_tools``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import jsonschema
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from ..config import McpServer
from .registry import Tool, ToolContext, ToolError, ToolRegistry

logger = logging.getLogger(__name__)
SEPARATOR = "__"


def _headers(server: McpServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token.get_secret_value()}"} if server.token else {}


async def _list_tools(server: McpServer, timeout: float) -> list[Any]:
    async with streamablehttp_client(server.url, headers=_headers(server), timeout=timeout) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return list((await session.list_tools()).tools)


def _validator(schema: dict[str, Any]) -> Any:
    checker = jsonschema.Draft202012Validator(schema or {"type": "object"})

    def validate(arguments: dict[str, Any]) -> dict[str, Any]:
        errors = sorted(checker.iter_errors(arguments), key=lambda e: list(e.path))
        if errors:
            raise ValueError("; ".join(f"{'/'.join(map(str, e.path)) or 'arguments'}: {e.message}" for e in errors))
        return arguments

    return validate


def _make_call(server: McpServer, remote_name: str, timeout: float) -> Any:
    async def call(arguments: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        async with streamablehttp_client(server.url, headers=_headers(server), timeout=timeout) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool(remote_name, arguments)
        texts = [block.text for block in result.content if getattr(block, "type", "") == "text"]
        if result.isError:
            raise ToolError(" ".join(texts) or f"{remote_name} failed")
        if result.structuredContent is not None:
            return dict(result.structuredContent)
        joined = "\n".join(texts)
        try:
            parsed = json.loads(joined)
            return parsed if isinstance(parsed, dict) else {"result": parsed}
        except ValueError:
            return {"result": joined}

    return call


async def load_mcp_tools(registry: ToolRegistry, servers: list[McpServer], timeout: float = 10.0) -> dict[str, str]:
    """Register the tools of every non-native server; returns label → status (``ok: N tools`` or the error)."""
    status: dict[str, str] = {}
    for server in servers:
        if server.native:
            status[server.label] = "native (handed to the Realtime provider)"
            continue
        source = f"mcp:{server.label}"
        try:
            tools = await asyncio.wait_for(_list_tools(server, timeout), timeout=timeout)
        except Exception as exc:  # an unreachable MCP server must not stop the gateway
            logger.error("MCP server %s unreachable: %s", server.label, exc)
            status[server.label] = f"unreachable: {type(exc).__name__}"
            continue
        registry.remove_source(source)
        count = 0
        for remote in tools:
            if server.allowed_tools is not None and remote.name not in server.allowed_tools:
                continue
            registry.add(
                Tool(
                    name=f"{server.label}{SEPARATOR}{remote.name}",
                    description=remote.description or "",
                    parameters=remote.inputSchema or {"type": "object", "properties": {}},
                    func=_make_call(server, remote.name, timeout),
                    validate=_validator(remote.inputSchema),
                    source=source,
                    meta={"server": server.label},
                )
            )
            count += 1
        status[server.label] = f"ok: {count} tools"
        logger.info("MCP server %s: %d tools registered", server.label, count)
    return status


def mcp_tool_names(registry: ToolRegistry, labels: tuple[str, ...]) -> list[str]:
    return [n for n in registry.names() if n.split(SEPARATOR, 1)[0] in labels and SEPARATOR in n]


def profile_tool_names(registry: ToolRegistry, tools: tuple[str, ...], labels: tuple[str, ...]) -> list[str]:
    """Every tool a profile may call: its own list plus the tools of its MCP servers."""
    return list(tools) + mcp_tool_names(registry, labels)


def native_mcp_tools(servers: list[McpServer], labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """Realtime-session ``type: "mcp"`` tool entries for the profile's native servers."""
    tools = []
    for server in servers:
        if not server.native or server.label not in labels:
            continue
        entry: dict[str, Any] = {"type": "mcp", "server_label": server.label, "server_url": server.url, "require_approval": server.require_approval}
        if server.token:
            entry["authorization"] = server.token.get_secret_value()
        if server.allowed_tools is not None:
            entry["allowed_tools"] = server.allowed_tools
        tools.append(entry)
    return tools
