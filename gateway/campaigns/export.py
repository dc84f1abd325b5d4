"""Campaign results as CSV in UTF-8 with a BOM, so Excel in Japan opens it with the right characters."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

RESULT_COLUMNS = ("line", "to", "name", "outcome", "attempts", "call_id", "duration_s", "summary", "reason")


def to_csv(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...] = RESULT_COLUMNS) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue().encode("utf-8-sig")
