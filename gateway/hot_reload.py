"""Files re-read when they change (checked by mtime at each lookup), shared by agent profiles and readings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedFiles(Generic[T]):
    """Parsed files cached by path and mtime: a lookup re-parses a file only when it changed on disk.

    ``load`` raises what ``parse`` raises (and ``OSError``); callers decide whether a bad file is skipped or the
    last good version stays in force.
    """

    def __init__(self, parse: Callable[[Path], T]) -> None:
        self._parse = parse
        self._cache: dict[Path, tuple[float, T]] = {}

    def load(self, path: Path) -> tuple[T, bool]:
        """The parsed file and whether it was (re-)read just now."""
        mtime = path.stat().st_mtime
        cached = self._cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1], False
        value = self._parse(path)
        self._cache[path] = (mtime, value)
        return value, True
