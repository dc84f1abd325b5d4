"""Console fixtures: a gateway app with the console mounted and a token set, in-process or on a loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from gateway.app import create_app
from gateway.console import create_console_blueprint
from gateway.emulators.serving import serve_app
from gateway.services import Gateway
from tests.conftest import make_settings

TOKEN = "console-test-token-4f8a2c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def console_app(tmp_path: Path, **overrides: Any) -> Quart:
    """The gateway app with the console, mounted here until the composition root mounts it itself."""
    overrides.setdefault("console_token", TOKEN)
    app = create_app(make_settings(tmp_path, **overrides))
    if "console" not in app.blueprints:
        acs = app.blueprints.get("acs")
        app.register_blueprint(create_console_blueprint(app.extensions["gateway"], getattr(acs, "attach_emulator", None)))
    return app


def gateway_of(app: Quart) -> Gateway:
    return app.extensions["gateway"]


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = console_app(tmp_path)
    async with app.test_app():
        yield app


@dataclass
class Served:
    app: Quart
    url: str

    @property
    def gw(self) -> Gateway:
        return gateway_of(self.app)

    @property
    def console(self) -> Any:
        return self.app.blueprints["console"]


@contextlib.asynccontextmanager
async def served_console(tmp_path: Path, **overrides: Any) -> AsyncIterator[Served]:
    app = console_app(tmp_path, **overrides)
    async with serve_app(app) as url:
        yield Served(app, url)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with served_console(tmp_path) as s:
        yield s
