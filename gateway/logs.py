"""Logging set-up: every line of a conversation carries its session id, taken from a context variable.

Tasks started inside ``session_context`` inherit the id (asyncio copies the context), so no call site passes it.

No line may carry a secret, at any level: the SDKs' own DEBUG lines (openai logs request bodies, which carry a
native MCP server's token; httpx, websockets and mcp log headers and frames) are kept at WARNING or above, and every
record made in the process is passed through ``protect_secrets``' redaction, fed with every configured secret.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

session_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("session_id", default="-")


class _SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session_id"):
            record.session_id = session_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (Azure Monitor, Loki...)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "session": getattr(record, "session_id", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info or record.exc_text:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


NOISY = ("httpx", "httpcore", "azure.core.pipeline", "websockets", "aiosqlite", "hpack", "mcp", "openai")
REDACTED = "[redacted]"
MIN_SECRET_LEN = 6  # shorter values would blank out ordinary words; no real key is that short


class _Redactor:
    """A log record factory: makes the record as before, then cuts every known secret out of its message and
    traceback. Being the factory, it covers every handler, ours, pytest's or Hypercorn's."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.secrets: set[str] = set()
        self.pattern: re.Pattern[str] | None = None
        self._formatter = logging.Formatter()

    def add(self, values: Iterable[str]) -> None:
        self.secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LEN)
        if self.secrets:
            ordered = sorted(self.secrets, key=len, reverse=True)  # a secret containing another goes first
            self.pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.base(*args, **kwargs)
        if self.pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as logging always does
            return record
        clean = self.pattern.sub(REDACTED, message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:
            record.exc_text = self.pattern.sub(REDACTED, self._formatter.formatException(record.exc_info))
        return record


def protect_secrets(values: Iterable[str]) -> None:
    """From now on, no log record of this process shows any of ``values`` (installed once, extended after)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _Redactor):
        factory = _Redactor(factory)
        logging.setLogRecordFactory(factory)
    factory.add(values)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_SessionFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s [%(session_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


@contextlib.contextmanager
def session_context(session_id: str) -> Iterator[None]:
    token = session_id_var.set(session_id)
    try:
        yield
    finally:
        session_id_var.reset(token)
