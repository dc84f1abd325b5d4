"""This worker's own resource figures (asyncio tasks, open descriptors), for the console's status and the soak.

Only the console (token-protected) shows them: they say nothing about callers, but an anonymous visitor has no
business watching a worker's insides either.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

FD_DIR = Path("/proc/self/fd")


def process_figures() -> dict[str, int | None]:
    """``pid`` (which worker answered), ``asyncio_tasks`` on its loop, ``open_fds`` (``None`` off Linux)."""
    fds = len(os.listdir(FD_DIR)) if FD_DIR.is_dir() else None
    return {"pid": os.getpid(), "asyncio_tasks": len(asyncio.all_tasks()), "open_fds": fds}
