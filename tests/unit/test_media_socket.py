"""The media sockets' lean websocket connection (gateway/media_socket.py): the same behaviour as Quart's own for the
handler (frames in order, sends, signals when someone listens, the peer's disconnect ending the handler with
``CancelledError``), on the media paths only."""

from __future__ import annotations

import asyncio

from quart import Quart, websocket
from quart.signals import websocket_received, websocket_sent

from gateway.media_socket import MediaSocketConnection, MediaWebsocket


def echo_app(seen: dict[str, object]) -> Quart:
    app = Quart(__name__)
    app.asgi_websocket_class = MediaSocketConnection

    async def echo(**_route: str) -> None:
        seen["class"] = type(websocket._get_current_object())  # type: ignore[attr-defined]
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                await websocket.send(f"echo {message}")
        except asyncio.CancelledError:
            seen["cancelled"] = True
            raise

    app.add_url_rule("/ws/acs/<key>", "acs", echo, websocket=True)
    app.add_url_rule("/ws/browser", "browser", echo, websocket=True)
    return app


async def test_a_media_socket_echoes_in_order_and_the_disconnect_ends_its_handler() -> None:
    seen: dict[str, object] = {}
    app = echo_app(seen)
    async with app.test_client().websocket("/ws/acs/k1") as ws:
        for i in range(5):
            await ws.send(f"frame {i}")
        assert [await ws.receive() for _ in range(5)] == [f"echo frame {i}" for i in range(5)]
    for _ in range(100):  # the test client's disconnect reaches the handler on the loop's next turns
        if "cancelled" in seen:
            break
        await asyncio.sleep(0)
    assert seen == {"class": MediaWebsocket, "cancelled": True}


async def test_other_websockets_keep_quarts_wrapper() -> None:
    seen: dict[str, object] = {}
    async with echo_app(seen).test_client().websocket("/ws/browser") as ws:
        await ws.send("hello")
        assert await ws.receive() == "echo hello"
    assert seen["class"] is not MediaWebsocket


async def test_websocket_signals_still_fire_for_a_listener() -> None:
    received: list[object] = []
    sent: list[object] = []

    async def on_received(message: object, **_: object) -> None:  # Quart sends the message as the sender
        received.append(message)

    async def on_sent(message: object, **_: object) -> None:
        sent.append(message)

    app = echo_app({})
    with websocket_received.connected_to(on_received), websocket_sent.connected_to(on_sent):
        async with app.test_client().websocket("/ws/acs/k2") as ws:
            await ws.send("one")
            assert await ws.receive() == "echo one"
    assert received == ["one"] and sent == ["echo one"]
