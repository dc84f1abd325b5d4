"""A gateway wired to the ACS and Realtime emulators on loopback, driven through the real SDKs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.emulators.acs import AcsEmulator, PlayConfig
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY, OfflineStack, offline_stack
from gateway.logs import session_id_var
from gateway.services import Gateway
from tests.conftest import make_settings


@dataclass
class PhoneRig:
    stack: OfflineStack
    gw: Gateway
    url: str
    phone_calls: Any = None  # the gateway's ACS line: its live calls and its memory of ended ones

    @property
    def acs(self) -> AcsEmulator:
        return self.stack.acs

    @property
    def realtime(self) -> RealtimeEmulator:
        return self.stack.realtime

    @property
    def incoming_url(self) -> str:
        return f"{self.url}/api/incoming-call"



DIALECTS = ("openai-ga", "azure-ga", "azure-preview")
PREVIEW_API_VERSION = "2025-04-01-preview"


def dialect_settings(stack: OfflineStack, dialect: str) -> dict[str, Any]:
    """Settings that put the gateway's Realtime socket on one provider dialect (the emulator speaks all three); the
    chat model (summaries) stays on the chat emulator."""
    if dialect == "openai-ga":
        return {}
    values: dict[str, Any] = {
        "azure_openai_endpoint": stack.urls["realtime"],
        "azure_openai_realtime_deployment": "my-realtime",
        "azure_openai_chat_deployment": None,
        "openai_base_url": f"{stack.urls['chat']}/v1",
    }
    if dialect == "azure-preview":
        values["azure_openai_api_version"] = PREVIEW_API_VERSION
    return values


@contextlib.asynccontextmanager
async def phone_rig(
    tmp_path: Path,
    script: Script,
    *,
    pacing: Pacing | None = None,
    play_s: float = 0.4,
    dialect: str = "openai-ga",
    acs_options: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[PhoneRig]:
    """``acs_options``: more ``EmulatorConfig`` fields for the ACS emulator (e.g. ``callbacks=CallbackDisorder(...)``)."""
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=pacing or Pacing(realtime_factor=2.0))
    acs = AcsEmulator(play=PlayConfig(duration_s=play_s), **(acs_options or {}))
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        values = stack.settings(base, **dialect_settings(stack, dialect))
        values.update(settings)
        app = create_app(make_settings(tmp_path, **values))
        async with serve_app(app, port=port) as url:
            yield PhoneRig(stack, app.extensions["gateway"], url, app.blueprints["acs"].phone_calls)


class SessionIds(logging.Filter):
    """Stamps each captured record with the session id of the context it was logged in (as the app's handler does)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.session_id = getattr(record, "session_id", session_id_var.get())
        return True


@contextlib.contextmanager
def session_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Captured records carry ``session_id`` for the duration of the block."""
    stamp = SessionIds()
    caplog.handler.addFilter(stamp)
    try:
        yield
    finally:
        caplog.handler.removeFilter(stamp)


def errors_of(caplog: pytest.LogCaptureFixture, session_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR and getattr(r, "session_id", "") == session_id]


def running_call_tasks(gw: Gateway) -> list[str]:
    """Background tasks of phone calls still running (app-lifetime tasks such as reapers are not a call's)."""
    return [t.get_name() for t in gw.tasks if not t.done() and "-" in t.get_name() and not t.get_name().endswith("reaper")]
