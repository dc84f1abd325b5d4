"""A CSV call list: a phone-number column (``phone``, ``phone_number``, ``to``, ``電話番号``), an optional name
(``name``, ``氏名``, ``名前``), and any other columns as the call's variables. Every number is normalised before
anything is dialled; a bad row or a number listed twice is reported with its line, never dialled."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from gateway.call_variables import InvalidVariables, check_variables
from gateway.phone_numbers import InvalidNumber, to_e164

PHONE_COLUMNS = ("phone", "phone_number", "to", "tel", "電話番号")
NAME_COLUMNS = ("name", "氏名", "名前")


@dataclass(frozen=True, slots=True)
class Prospect:
    line: int
    to: str  # E.164
    name: str
    variables: dict[str, str]


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    raw: str
    reason: str


@dataclass(slots=True)
class CallList:
    prospects: list[Prospect] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)


class CallListError(ValueError):
    """The file itself cannot be a call list (no phone column, not CSV text)."""


def _column(headers: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {h.strip().lower(): h for h in headers}
    return next((lowered[n] for n in names if n in lowered), None)


def parse_call_list(text: str) -> CallList:
    """``text``: the CSV's contents (a BOM is allowed, as Excel writes one)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    headers = reader.fieldnames or []
    phone = _column(headers, PHONE_COLUMNS)
    if phone is None:
        raise CallListError(f"the call list needs a phone number column (one of: {', '.join(PHONE_COLUMNS)})")
    name = _column(headers, NAME_COLUMNS)
    result = CallList()
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        raw = (row.get(phone) or "").strip()
        try:
            to = to_e164(raw)
            extra = {k.strip(): (v or "").strip() for k, v in row.items() if k and k not in (phone, name)}
            variables = check_variables({"name": (row.get(name) or "").strip(), **extra} if name else extra)
        except (InvalidNumber, InvalidVariables) as exc:
            result.bad_rows.append(BadRow(line, raw, str(exc)))
            continue
        if to in seen:
            result.bad_rows.append(BadRow(line, raw, f"the same number as line {seen[to]}: dialled once"))
            continue
        seen[to] = line
        result.prospects.append(Prospect(line, to, variables.get("name", ""), variables))
    return result
