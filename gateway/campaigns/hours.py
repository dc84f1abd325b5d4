"""Calling hours: the days and the time of day a campaign may dial, in its time zone (Asia/Tokyo by default)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class CallingHours:
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(20, 0)
    days: frozenset[int] = frozenset(range(5))  # Monday=0 … Friday=4
    tz: str = "Asia/Tokyo"

    @classmethod
    def parse(cls, window: str = "09:00-20:00", days: str = "mon-fri", tz: str = "Asia/Tokyo") -> CallingHours:
        """``window`` "HH:MM-HH:MM"; ``days`` "mon-fri", "mon,wed,sat" or "all". Raises ValueError with the reason."""
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in window.split("-"))
        except ValueError:
            raise ValueError(f"calling hours {window!r}: write them as HH:MM-HH:MM") from None
        if start >= end:
            raise ValueError(f"calling hours {window!r}: the start must be before the end")
        ZoneInfo(tz)  # raises for an unknown zone
        return cls(start, end, _days(days), tz)

    def allows(self, now: dt.datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.tz))
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, now: dt.datetime) -> dt.datetime:
        """``now`` if calls are allowed now, else when the next window opens."""
        if self.allows(now):
            return now
        local = now.astimezone(ZoneInfo(self.tz))
        for ahead in range(8):
            day = local.date() + dt.timedelta(days=ahead)
            opens = dt.datetime.combine(day, self.start, ZoneInfo(self.tz))
            if day.weekday() in self.days and opens > local:
                return opens
        raise ValueError("no calling day in the week")


def opens_at(summary: dict[str, Any], now: dt.datetime) -> str | None:
    """When a running campaign that is outside its calling hours dials again (ISO), else None: shown by the console,
    so a campaign waiting for its hours does not look stuck."""
    if summary["status"] != "running" or not summary["hours"]:
        return None
    hours = CallingHours.parse(summary["hours"], summary["days"], summary["tz"])
    return None if hours.allows(now) else hours.next_open(now).isoformat()


def _days(spec: str) -> frozenset[int]:
    spec = spec.strip().lower()
    if spec in ("all", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"calling days {spec!r}: use mon…sun, ranges (mon-fri) or all")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)
