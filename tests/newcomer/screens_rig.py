"""The offline demo served in-process as a newcomer gets it, and the checks a person makes when looking at a screen."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.app import create_app
from gateway.config import Settings
from gateway.emulators.serving import free_port, serve_app
from gateway.offline import demo_stack, loopback_url, offline_values
from gateway.services import Gateway

TOKEN = "console-token-for-the-screens"
VIEWPORTS = {"1280": {"width": 1280, "height": 800}, "800": {"width": 800, "height": 900}, "phone": {"width": 390, "height": 844}}


@dataclass
class Demo:
    url: str
    gw: Gateway
    app: Any


@contextlib.asynccontextmanager
async def offline_demo(tmp_path: Path) -> AsyncIterator[Demo]:
    """What `voice-gateway serve` runs with nothing configured: the demo's scripted agent on the emulators."""
    port = free_port()
    async with demo_stack() as stack:
        base = loopback_url("127.0.0.1", port)
        values = offline_values(stack, base)
        values.update(console_token=TOKEN, database_url=f"sqlite:///{tmp_path}/demo.db", gateway_secret="screens")
        app = create_app(Settings(_env_file=None, **values), emulated=True)
        async with serve_app(app, port=port) as url:
            yield Demo(url, app.extensions["gateway"], app)


SINGLE_ROW = """(selector) => {
  const boxes = [...document.querySelector(selector).children]
    .filter((e) => e.getClientRects().length && getComputedStyle(e).display !== 'none' && e.offsetWidth > 0)
    .map((e) => { const r = e.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, right: r.right, id: e.id || e.className }; });
  const mid = (b) => (b.top + b.bottom) / 2;
  const first = mid(boxes[0]);
  return { oneRow: boxes.every((b) => Math.abs(mid(b) - first) < 6), inside: boxes.every((b) => b.right <= innerWidth + 1), boxes };
}"""

CUT_TEXT = """(selector) => [...document.querySelectorAll(selector)]
  .filter((e) => e.offsetWidth > 0 && e.textContent.trim())
  .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.trim())"""

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= innerWidth + 1"
