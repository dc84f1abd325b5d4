"""The shared tool layer: one registry per app, demo business tools, MCP servers."""

from .registry import Tool, ToolContext, ToolError, ToolOutcome, ToolRegistry, ToolResult

__all__ = ["Tool", "ToolContext", "ToolError", "ToolOutcome", "ToolRegistry", "ToolResult"]
