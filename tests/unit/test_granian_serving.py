"""SERVER=granian: the setting, and the one ASGI difference the gateway adapts to (a denial's body in one message)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway import granian_serving
from gateway.config import Settings


async def test_a_websocket_denial_is_sent_as_one_body() -> None:
    async def refusing(scope: dict[str, Any], receive: Any, send: Any) -> None:  # as Quart refuses a media socket
        await send({"type": "websocket.http.response.start", "status": 409, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b'{"error":', "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b'"replayed"}', "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"", "more_body": False})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await granian_serving.whole_denials(refusing)({"type": "websocket"}, None, send)
    assert [m["type"] for m in sent] == ["websocket.http.response.start", "websocket.http.response.body"]
    assert sent[1] == {"type": "websocket.http.response.body", "body": b'{"error":"replayed"}', "more_body": False}


async def test_other_messages_pass_unchanged() -> None:
    frames = [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "x", "bytes": None}]

    async def echoing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for frame in frames:
            await send(frame)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for kind in ("websocket", "http"):
        sent.clear()
        await granian_serving.whole_denials(echoing)({"type": kind}, None, send)
        assert sent == frames


def test_server_granian_without_granian_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(granian_serving, "available", lambda: False)
    with pytest.raises(ValidationError, match=r"granian is not installed \(pip install"):
        Settings(_env_file=None, server="granian")  # type: ignore[call-arg]
    assert Settings(_env_file=None, server="hypercorn").server == "hypercorn"  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, server="uvicorn")  # type: ignore[call-arg]
