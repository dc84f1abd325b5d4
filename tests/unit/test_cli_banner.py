"""The serve/demo banners name a command the reader can type: a fresh clone's CLI is in .venv/bin, not on PATH."""

from __future__ import annotations

import shutil
import sys

import pytest

from gateway.cli import _offline_banner, command_name
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        (".venv/bin/voice-gateway", None, ".venv/bin/voice-gateway"),  # ./run.sh serve in a fresh shell
        (".venv/bin/voice-gateway", "/usr/local/bin/voice-gateway", "voice-gateway"),  # an activated venv
        ("gateway/cli.py", None, "voice-gateway"),  # python -m gateway.cli: the installed name
    ],
)
def test_the_banner_names_a_command_that_runs(monkeypatch, capsys, tmp_path, argv0: str, on_path: str | None, expected: str) -> None:
    monkeypatch.setattr(sys, "argv", [argv0, "serve"])
    monkeypatch.setattr(shutil, "which", lambda name: on_path)
    assert command_name() == expected
    _offline_banner("http://127.0.0.1:8000", make_settings(tmp_path, console_token="t0ken"))
    assert f"phone call:   {expected} simulate-call --gateway http://127.0.0.1:8000" in capsys.readouterr().out
