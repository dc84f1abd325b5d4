"""Helpers shared by the hardening tests: bounded waits and a throw-away agent profile that names extra tools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


async def wait_until(check: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; bounded by ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.02)


def write_profile(tmp_path: Path, name: str, tools: list[str], **front: Any) -> Path:
    """An agents dir with one profile (Japanese phone greeting played by ACS) that offers ``tools``."""
    agents = tmp_path / "agents"
    agents.mkdir(exist_ok=True)
    lines = [
        "---",
        f"name: {name}",
        "greeting: お電話ありがとうございます。テスト窓口です。",
        "greeting_mode: play",
        f"tools: [{', '.join(tools)}]",
        *(f"{k}: {v}" for k, v in front.items()),
        "---",
        "# 役割",
        "ハードニング試験用のエージェントです。",
        "",
    ]
    (agents / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
    return agents
