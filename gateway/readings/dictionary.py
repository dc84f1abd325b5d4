"""A deployment's readings dictionary: words the analyser cannot know, each optionally tied to a context.

``readings.yaml`` (beside the agent profiles, or ``READINGS_FILE``)::

    phone_group_separator: pause      # or の
    words:
      - {word: 三田, context: 目黒区, reading: ミタ}
      - {word: 新宿, context: 葛飾区, reading: ニイジュク}

An entry with a context applies only when that context string appears in the same text or in the call's context
(the customer's address, say); it wins over an entry for the same word without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from .phone import PAUSE
from .pieces import Piece

_KATAKANA = re.compile(r"^[ァ-ヴー・ 　、]+$")
SAPI_JA = re.compile(r"^[ァ-ヶー'+|.?!_* 　]+$")  # Azure's ja-JP SAPI phone set; anything else fails the document


class ReadingEntry(BaseModel):
    word: str = Field(min_length=1, max_length=100)
    reading: str = Field(min_length=1, max_length=200, description="katakana, e.g. ミタ")
    context: str | None = Field(default=None, min_length=1, max_length=100)
    sapi: str | None = Field(default=None, min_length=1, max_length=200, description="accented katakana, e.g. ミ'タ")

    @field_validator("reading")
    @classmethod
    def _katakana(cls, value: str) -> str:
        if not _KATAKANA.match(value):
            raise ValueError(f"the reading {value!r} must be written in katakana (e.g. ミタ)")
        return value

    @field_validator("sapi")
    @classmethod
    def _sapi(cls, value: str | None) -> str | None:
        if value is not None and not SAPI_JA.match(value):
            raise ValueError(f"the sapi reading {value!r} must be katakana with SAPI accent marks (e.g. ミ'タ)")
        return value


class ReadingsFile(BaseModel):
    phone_group_separator: str = Field(default=PAUSE, pattern=r"^(pause|の|ノ)$")
    words: list[ReadingEntry] = Field(default_factory=list)


class ReadingsFileError(ValueError):
    """A readings file that cannot be used; the message says what is wrong, where, and how to fix it."""


@dataclass(frozen=True, slots=True)
class ReadingsDictionary:
    phone_group_separator: str = PAUSE
    entries: tuple[ReadingEntry, ...] = field(default_factory=tuple)

    def pieces(self, text: str, context: str = "") -> list[Piece]:
        """``text`` split into dictionary words (with their reading) and the rest (reading ``None``)."""
        chosen: dict[str, ReadingEntry] = {}
        for entry in sorted(self.entries, key=lambda e: e.context is None):
            if entry.word in text and entry.word not in chosen:
                if entry.context is None or entry.context in text or entry.context in context:
                    chosen[entry.word] = entry
        if not chosen:
            return [Piece(text)]
        pattern = re.compile("|".join(re.escape(w) for w in sorted(chosen, key=len, reverse=True)))
        out: list[Piece] = []
        last = 0
        for match in pattern.finditer(text):
            if match.start() > last:
                out.append(Piece(text[last : match.start()]))
            entry = chosen[match.group(0)]
            out.append(Piece(match.group(0), entry.reading, sapi=entry.sapi))
            last = match.end()
        if last < len(text):
            out.append(Piece(text[last:]))
        return out


def parse_readings(text: str, where: str) -> ReadingsDictionary:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ReadingsFileError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ReadingsFileError(f"{where}: expected a mapping with 'words:' (a list of word/reading/context entries)")
    try:
        parsed = ReadingsFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ReadingsFileError(f"{where}: {problems}; fix these entries (word, reading in katakana, optional context)") from None
    return ReadingsDictionary(parsed.phone_group_separator, tuple(parsed.words))


def load_readings(path: Path) -> ReadingsDictionary:
    return parse_readings(path.read_text(encoding="utf-8"), path.name)
