"""A real ``redis-server`` for tests: loopback, a free port, no persistence, stopped (or killed) on demand.

CI installs the Debian package (``run.sh test`` does); a machine without the binary skips these tests, saying why.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from gateway.emulators.serving import free_port

BINARY = "redis-server"
MISSING = f"{BINARY} is not installed (apt-get install redis-server; `./run.sh test` installs it)"


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None, timeout: float = 10.0) -> RedisServer:
        """Starts (again, on the same port when given) and returns once it answers PING."""
        binary = shutil.which(BINARY)
        if binary is None:
            raise FileNotFoundError(MISSING)
        self.port = port or free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.directory), "--protected-mode", "yes", "--loglevel", "warning"]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError("redis-server did not answer PING")
            time.sleep(0.02)
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        """``kill``: SIGKILL, as a Redis that dies under a running gateway."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill() if kill else self.process.terminate()
        self.process.wait(10)

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")
