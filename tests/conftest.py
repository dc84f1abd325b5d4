"""Shared fixtures: settings on a throw-away SQLite file, the gateway's services, fixture speech."""

from __future__ import annotations

import json
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
