"""Live state shared by every worker process and replica (``REDIS_URL``), or kept in this process without it."""

from __future__ import annotations

from ..config import Settings
from .base import SharedState
from .local import LocalState

__all__ = ["LocalState", "SharedState", "open_shared_state"]


def open_shared_state(settings: Settings) -> SharedState:
    """Redis when ``REDIS_URL`` is set, else this process's own state; no I/O until ``start``."""
    if settings.redis_url is None:
        return LocalState()
    from .redis_state import RedisState

    return RedisState(settings.redis_url.get_secret_value())
