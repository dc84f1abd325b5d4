"""Loose validation of a Chat Completions request body, with OpenAI-style error messages."""

from __future__ import annotations

import re

from gateway.emulators.chat.records import ChatRequest

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def validate(req: ChatRequest) -> tuple[str, str] | None:
    """A problem with the request as (message, param), or None."""
    body = req.body
    if req.route != "azure" and not body.get("model"):
        return "you must provide a model parameter", "model"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that asked
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"Invalid type for 'messages[{i}]': expected an object", f"messages[{i}]"
        role = m.get("role")
        if role not in ROLES:
            return (
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                "'tool', and 'developer'.",
                f"messages[{i}].role",
            )
        if role != "tool" and pending:
            ids = ", ".join(pending)
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
                f"messages.[{i}].role",
            )
        if role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                    "with 'tool_calls'.",
                    f"messages.[{i}].role",
                )
            del pending[call_id]
            continue
        if role == "assistant":
            calls = m.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list):
                    return "Invalid type for 'tool_calls': expected an array", f"messages[{i}].tool_calls"
                for call in calls:
                    fn = call.get("function") if isinstance(call, dict) else None
                    if not isinstance(fn, dict) or not call.get("id") or not isinstance(fn.get("arguments"), str):
                        return (
                            "Invalid tool call: expected 'id', 'type', and 'function' with 'name' and "
                            "string 'arguments'",
                            f"messages[{i}].tool_calls",
                        )
                    pending[str(call["id"])] = i
            if m.get("content") is None and not calls:
                return ("Invalid value for 'content': expected a string, got null.", f"messages.[{i}].content")
        elif not isinstance(m.get("content"), str | list):
            return (
                f"Invalid type for 'messages[{i}].content': expected one of a string or array of objects",
                f"messages[{i}].content",
            )
    if pending:
        ids = ", ".join(pending)
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: {ids}",
            "messages",
        )
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array", "tools"
        for j, tool in enumerate(tools):
            fn = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
                return f"Invalid value for 'tools[{j}]': expected a function tool", f"tools[{j}]"
            name = fn.get("name")
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                return (
                    f"Invalid 'tools[{j}].function.name': string does not match pattern. Expected a string "
                    "that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"tools[{j}].function.name",
                )
            params = fn.get("parameters")
            if params is not None and not isinstance(params, dict):
                return f"Invalid type for 'tools[{j}].function.parameters': expected an object", f"tools[{j}]"
    return None
