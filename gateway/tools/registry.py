"""One tool registry per app: every channel and engine calls tools through it.

Tools are plain async functions taking a pydantic argument model and a ``ToolContext``. The registry makes their
JSON schemas (Realtime ``function`` format and chat-completions format), validates arguments, enforces a timeout,
and turns every failure into a JSON error the model can speak about, so a bad call never ends a conversation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from ..readings import ReadingsDictionary

if TYPE_CHECKING:
    from ..store import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who is calling: tools see the session (for records such as which conversation made a reservation) and the
    deployment's readings (a phone number's spoken form uses its group separator)."""

    session_id: str
    store: Store
    channel: str = ""
    caller: str = ""
    readings: ReadingsDictionary = field(default_factory=ReadingsDictionary)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool may return instead of a plain dict: data plus the scenario step to move to (prompt chaining)."""

    data: Any
    next_step: str | None = None


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    name: str
    ok: bool
    output: dict[str, Any]
    duration_ms: float
    next_step: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.output, ensure_ascii=False, default=str)


ToolFunc = Callable[[Any, ToolContext], Awaitable[Any]]
Validator = Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    func: ToolFunc
    validate: Validator
    timeout: float | None = None
    source: str = "builtin"
    meta: dict[str, Any] = field(default_factory=dict)


class ToolError(Exception):
    """A failure a tool reports on purpose; its message is meant for the caller's ears, ``code`` for the model."""

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's schema minus titles, which only cost tokens."""
    if isinstance(schema, dict):
        return {k: _clean_schema(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def _error(name: str, code: str, message: str, started: float, **extra: Any) -> ToolOutcome:
    output = {"ok": False, "error": {"code": code, "message": message, **extra}}
    return ToolOutcome(name=name, ok=False, output=output, duration_ms=(time.perf_counter() - started) * 1000)


class ToolRegistry:
    def __init__(self, default_timeout: float = 8.0) -> None:
        self.default_timeout = default_timeout
        self._tools: dict[str, Tool] = {}

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def function(
        self, args_model: type[BaseModel], *, name: str | None = None, timeout: float | None = None
    ) -> Callable[[ToolFunc], ToolFunc]:
        """Decorator: register ``async def f(args: Model, ctx: ToolContext)``; its docstring is the description."""

        def register(func: ToolFunc) -> ToolFunc:
            self.add(
                Tool(
                    name=name or func.__name__,
                    description=(func.__doc__ or "").strip(),
                    parameters=_clean_schema(args_model.model_json_schema()),
                    func=func,
                    validate=args_model.model_validate,
                    timeout=timeout,
                )
            )
            return func

        return register

    def remove_source(self, source: str) -> None:
        for name in [n for n, t in self._tools.items() if t.source == source]:
            del self._tools[name]

    def names(self) -> list[str]:
        return sorted(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def _select(self, names: list[str] | tuple[str, ...] | None) -> list[Tool]:
        if names is None:
            return list(self._tools.values())
        missing = [n for n in names if n not in self._tools]
        if missing:
            logger.warning("agent profile names unknown tools %s; they are left out", missing)
        return [self._tools[n] for n in names if n in self._tools]

    def realtime_schemas(self, names: list[str] | tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return [
            {"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters}
            for t in self._select(names)
        ]

    def chat_schemas(self, names: list[str] | tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        return [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in self._select(names)
        ]

    async def call(self, name: str, arguments: str | dict[str, Any] | None, ctx: ToolContext) -> ToolOutcome:
        started = time.perf_counter()
        tool = self._tools.get(name)
        if tool is None:
            logger.warning("model asked for unknown tool %s", name)
            return _error(name, "unknown_tool", f"There is no tool named {name!r}.", started, available=self.names())
        try:
            raw = json.loads(arguments) if isinstance(arguments, str) else (arguments or {})
            if not isinstance(raw, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return _error(name, "bad_arguments", f"The arguments are not a JSON object: {exc}", started)
        try:
            args = tool.validate(raw)
        except ValidationError as exc:
            problems = [{"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in exc.errors()]
            return _error(name, "bad_arguments", "Some arguments are missing or invalid.", started, problems=problems)
        except ValueError as exc:
            return _error(name, "bad_arguments", str(exc), started)
        timeout = tool.timeout or self.default_timeout
        try:
            result = await asyncio.wait_for(tool.func(args, ctx), timeout=timeout)
        except TimeoutError:
            logger.error("tool %s timed out after %.1fs", name, timeout)
            return _error(name, "timeout", f"The {name} system did not answer in time. Please apologise and offer to try again.", started)
        except ToolError as exc:
            return _error(name, exc.code, str(exc), started)
        except Exception as exc:  # a tool bug must not end the call: the model apologises instead
            logger.exception("tool %s failed", name)
            return _error(name, "failed", f"The {name} system failed ({type(exc).__name__}). Please apologise.", started)
        next_step = None
        if isinstance(result, ToolResult):
            next_step, result = result.next_step, result.data
        output = result if isinstance(result, dict) else {"result": result}
        output = {"ok": True, **output}
        if next_step:
            output["next_step"] = next_step
        return ToolOutcome(
            name=name, ok=True, output=output, duration_ms=(time.perf_counter() - started) * 1000, next_step=next_step
        )
