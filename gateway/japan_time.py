"""Japan Standard Time, defined once: the demo tools and the appointment book both speak of "now" in Japan, where
the callers are (JST has no daylight saving, so a fixed offset is exact)."""

from __future__ import annotations

import datetime as dt

JST = dt.timezone(dt.timedelta(hours=9), "JST")


def japan_now() -> dt.datetime:
    """Now in Japan, as a naive wall-clock time (the appointment book's slots are naive Japan times)."""
    return dt.datetime.now(JST).replace(tzinfo=None)
