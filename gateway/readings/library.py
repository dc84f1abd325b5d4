"""The deployment's readings dictionary as a live file: ``readings.yaml`` beside the agent profiles, or
``READINGS_FILE``; re-read when it changes, like the profiles.

A broken file is reported once per version (one log line: what, where, how to fix) and never stops the gateway:
the last good dictionary, or none, stays in force.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..hot_reload import WatchedFiles
from ..profiles import PACKAGED_AGENTS
from .dictionary import ReadingsDictionary, ReadingsFileError, load_readings

logger = logging.getLogger(__name__)

FILE_NAME = "readings.yaml"


def readings_path(agents_dir: Path | None, readings_file: Path | None) -> Path:
    """``READINGS_FILE``, or readings.yaml beside the agent profiles (AGENTS_DIR, default the shipped ones)."""
    return readings_file or (agents_dir or PACKAGED_AGENTS) / FILE_NAME


class ReadingsLibrary:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._files: WatchedFiles[ReadingsDictionary] = WatchedFiles(load_readings)
        self._good = ReadingsDictionary()
        self._reported: float | None = None  # mtime of the broken version already reported

    def current(self) -> ReadingsDictionary:
        try:
            dictionary, fresh = self._files.load(self.path)
        except FileNotFoundError:
            return self._good
        except (ReadingsFileError, OSError) as exc:
            self._report(exc)
            return self._good
        if fresh:
            self._good, self._reported = dictionary, None
            logger.info("loaded readings dictionary %s (%d words)", self.path.name, len(dictionary.entries))
        return dictionary

    def _report(self, exc: Exception) -> None:
        try:
            mtime: float | None = self.path.stat().st_mtime
        except OSError:
            mtime = None
        if mtime is not None and mtime == self._reported:
            return
        self._reported = mtime
        kept = f"the previous {len(self._good.entries)} words stay in force" if self._good.entries else "no readings apply"
        logger.error("readings dictionary not loaded: %s (edit %s and save; until then %s)", exc, self.path.name, kept)


def describe(path: Path) -> tuple[bool | None, str]:
    """For ``doctor``: (True, what is in force) for a good file, (None, …) for no file, (False, what is wrong)."""
    try:
        dictionary = load_readings(path)
    except FileNotFoundError:
        return None, f"no {path.name}: voices read every word their own way"
    except (ReadingsFileError, OSError) as exc:
        return False, f"{exc} (not used until fixed)"
    separator = "a pause" if dictionary.phone_group_separator == "pause" else "「の」"
    return True, f"{path.name}: {len(dictionary.entries)} words, phone number groups separated by {separator}"
