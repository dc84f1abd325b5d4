"""Turns the history search form into store arguments, with errors a presenter can read.

Dates come from ``<input type=date>`` in the presenter's own time zone (``tz``: minutes east of UTC, as the page
knows it); the store keeps UTC. A date-only ``until`` includes that whole day, as a person means it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.campaigns.export import to_csv

MAX_LIMIT = 200
EXPORT_LIMIT = 500  # an export takes up to the store's largest page, a screen up to MAX_LIMIT
MAX_TEXT = 200
EXPORT_COLUMNS = ("id", "started_at", "ended_at", "duration_s", "channel", "agent", "caller", "outcome", "summary")


class QueryError(ValueError):
    """A search parameter that cannot be understood; the message names it."""


@dataclass(slots=True, frozen=True)
class HistoryQuery:
    q: str | None = None
    caller: str | None = None
    agent: str | None = None
    channel: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 50

    def store_kwargs(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "caller": self.caller,
            "agent": self.agent,
            "channel": self.channel,
            "since": self.since,
            "until": self.until,
            "limit": self.limit,
        }


def _text(args: Mapping[str, str], name: str) -> str | None:
    value = (args.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        raise QueryError(f"{name}: at most {MAX_TEXT} characters")
    return value or None


def _zone(args: Mapping[str, str]) -> dt.timezone:
    raw = (args.get("tz") or "0").strip()
    try:
        minutes = int(raw)
    except ValueError:
        raise QueryError("tz: minutes east of UTC, e.g. 540 for Japan") from None
    if not -14 * 60 <= minutes <= 14 * 60:
        raise QueryError("tz: must be within ±840 minutes")
    return dt.timezone(dt.timedelta(minutes=minutes))


def _moment(args: Mapping[str, str], name: str, zone: dt.timezone, end_of_day: bool) -> dt.datetime | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:  # YYYY-MM-DD
            day = dt.date.fromisoformat(raw)
            moment = dt.datetime.combine(day, dt.time(), zone)
            if end_of_day:
                moment += dt.timedelta(days=1)
        else:
            moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise QueryError(f"{name}: a date (YYYY-MM-DD) or an ISO date-time") from None
    return moment.astimezone(dt.UTC)


def parse_query(args: Mapping[str, str], *, default_limit: int = 50, max_limit: int = MAX_LIMIT) -> HistoryQuery:
    zone = _zone(args)
    raw_limit = (args.get("limit") or str(default_limit)).strip()
    try:
        limit = int(raw_limit)
    except ValueError:
        raise QueryError("limit: a whole number") from None
    since = _moment(args, "since", zone, end_of_day=False)
    until = _moment(args, "until", zone, end_of_day=True)
    if since and until and since >= until:
        raise QueryError("since must be before until")
    return HistoryQuery(
        q=_text(args, "q"),
        caller=_text(args, "caller"),
        agent=_text(args, "agent"),
        channel=_text(args, "channel"),
        since=since,
        until=until,
        limit=max(1, min(limit, max_limit)),
    )


def history_csv(conversations: list[dict[str, Any]]) -> bytes:
    """A search's conversations as CSV in UTF-8 with a BOM (Excel in Japan), the same writer as campaign exports."""
    rows = [{**c, "duration_s": _duration_s(c.get("started_at"), c.get("ended_at"))} for c in conversations]
    return to_csv(rows, EXPORT_COLUMNS)


def _duration_s(started: str | None, ended: str | None) -> int | None:
    if not started or not ended:
        return None
    return round((dt.datetime.fromisoformat(ended) - dt.datetime.fromisoformat(started)).total_seconds())
