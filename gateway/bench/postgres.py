"""A throw-away PostgreSQL cluster for one bench run, the way the store's tests get one: Debian's ``pg_virtualenv``
creates it, runs a small shell that prints its connection settings and waits on stdin, and drops it when that
shell ends (when the bench closes stdin). Replicas need a store they can all write; SQLite cannot be shared."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator

logger = logging.getLogger(__name__)

READY = "PG-READY"
START_TIMEOUT_S = 60.0


@contextlib.asynccontextmanager
async def throwaway_postgres() -> AsyncIterator[str | None]:
    """``DATABASE_URL`` of a fresh cluster for the block; ``None`` when the PostgreSQL server tools are missing."""
    binary = shutil.which("pg_virtualenv")
    if binary is None:
        yield None
        return
    shell = f'env | grep "^PG"; echo {READY}; cat'
    proc = await asyncio.create_subprocess_exec(
        binary, "sh", "-c", shell,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        found: dict[str, str] = {}
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT_S)).decode().strip()
            if not line or line == READY:
                break
            name, _, value = line.partition("=")
            found[name] = value
        if line != READY:
            logger.warning("pg_virtualenv did not start a cluster")
            yield None
        else:
            yield f"postgresql://{found['PGUSER']}:{found['PGPASSWORD']}@{found['PGHOST']}:{found['PGPORT']}/{found['PGDATABASE']}"
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
