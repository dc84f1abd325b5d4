"""The log keeps to what needs a human: connections aborted during set-up, and connections still open when the
server's graceful timeout cuts them at shutdown, leave no "Exception in callback ... CancelledError" traceback."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import sys
from pathlib import Path

import aiohttp
import pytest

from gateway.emulators.serving import free_port
from tests.hardening.served import Served, wait_ready
from tests.hardening.test_config_errors import clean_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

TOKEN = "console-token-for-shutdown-test"
ABORTED = 300  # connections opened and reset during set-up, 30 at a time
STREAMS = 30  # console event streams still open at shutdown


async def abort_during_setup(port: int, i: int) -> None:
    """Connect, maybe send half a request, then reset the connection (SO_LINGER 0) before it is answered."""
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    if i % 3 == 1:
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
    elif i % 3 == 2:
        writer.write(
            b"GET /ws/browser HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    await asyncio.sleep(0)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize("event_loop_choice", ["asyncio", "uvloop"])
async def test_aborted_and_cut_connections_leave_no_traceback(tmp_path: Path, event_loop_choice: str) -> None:
    if event_loop_choice == "uvloop":
        pytest.importorskip("uvloop")
    port = free_port()
    log = tmp_path / "gateway.log"
    env = clean_env(tmp_path, CONSOLE_TOKEN=TOKEN, DRAIN_TIMEOUT_S="1", EVENT_LOOP=event_loop_choice)
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            env=env, cwd=tmp_path, stdout=sink, stderr=sink,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log, tmp_path / "gw.db")
    try:
        await wait_ready(served)
        for start in range(0, ABORTED, 30):
            await asyncio.gather(*(abort_during_setup(port, i) for i in range(start, start + 30)))
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            streams = [await http.get(f"{served.url}/api/console/events") for _ in range(STREAMS)]
            assert all(r.status == 200 for r in streams)
            process.send_signal(signal.SIGTERM)  # the streams stay open: the graceful timeout cuts them
            code = await asyncio.wait_for(process.wait(), 60)
            for response in streams:
                response.close()
        output = served.output()
        assert code == 0, output[-3000:]
        assert "Exception in callback" not in output, output[-3000:]
        assert "Traceback" not in output, output[-3000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
