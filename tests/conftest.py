"""Shared fixtures: settings on a throw-away SQLite file, the gateway's services, fixture speech."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gateway.config import Settings
from gateway.services import Gateway

DATA = Path(__file__).parent / "data"
SPEECH = DATA / "speech"
ARTIFACTS = Path(__file__).parent / "artifacts"


def speech(name: str, rate: int = 24) -> Path:
    """A caller utterance from the shared fixtures (copied into tests/data/speech)."""
    return SPEECH / f"{name}_{rate}k.wav"


def speech_text(name: str) -> str:
    return json.loads((SPEECH / "index.json").read_text(encoding="utf-8"))[name]["text"]


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"database_url": f"sqlite:///{tmp_path}/gateway.db", "gateway_secret": "test-secret"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def gateway(settings: Settings):
    gw = Gateway.build(settings)
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """One real ``redis-server`` for the test session (see tests/redis_server.py); skipped only without the binary."""
    from tests.redis_server import MISSING, RedisServer

    if shutil.which("redis-server") is None:
        pytest.skip(MISSING)
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
