"""A gateway wired to the ACS and Realtime emulators on loopback, driven through the real SDKs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.app import create_app
from gateway.emulators.acs import AcsEmulator, PlayConfig
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY, OfflineStack, offline_stack
from gateway.services import Gateway
from tests.conftest import make_settings


@dataclass
class PhoneRig:
    stack: OfflineStack
    gw: Gateway
    url: str

    @property
    def acs(self) -> AcsEmulator:
        return self.stack.acs

    @property
    def realtime(self) -> RealtimeEmulator:
        return self.stack.realtime

    @property
    def incoming_url(self) -> str:
        return f"{self.url}/api/incoming-call"


@contextlib.asynccontextmanager
async def phone_rig(
    tmp_path: Path, script: Script, *, pacing: Pacing | None = None, play_s: float = 0.4, **settings: Any
) -> AsyncIterator[PhoneRig]:
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=pacing or Pacing(realtime_factor=2.0))
    acs = AcsEmulator(play=PlayConfig(duration_s=play_s))
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = create_app(make_settings(tmp_path, **stack.settings(base, **settings)))
        async with serve_app(app, port=port) as url:
            yield PhoneRig(stack, app.extensions["gateway"], url)


def running_call_tasks(gw: Gateway) -> list[str]:
    """Background tasks of phone calls still running (app-lifetime tasks such as reapers are not a call's)."""
    return [t.get_name() for t in gw.tasks if not t.done() and "-" in t.get_name() and not t.get_name().endswith("reaper")]
