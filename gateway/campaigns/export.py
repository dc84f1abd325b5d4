"""Campaign results as CSV in UTF-8 with a BOM, so Excel in Japan opens it with the right characters: whole (the
CLI's results file) or streamed page by page (the export route, whatever the campaign's size)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

RESULT_COLUMNS = ("line", "to", "name", "outcome", "attempts", "call_id", "duration_s", "summary", "reason")
BOM = "\ufeff".encode()
PAGE_ROWS = 500  # rows read from the store per chunk of a streamed export


def _text(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue()


def to_csv(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...] = RESULT_COLUMNS) -> bytes:
    return BOM + _text(rows, columns, header=True).encode()


async def csv_chunks(
    page: Callable[[int, int], Awaitable[list[dict[str, Any]]]], columns: tuple[str, ...] = RESULT_COLUMNS, page_rows: int = PAGE_ROWS
) -> AsyncIterator[bytes]:
    """The BOM and header, then every row: ``page(offset, limit)`` reads one page at a time, so memory stays flat."""
    yield BOM + _text((), columns, header=True).encode()
    offset = 0
    while True:
        rows = await page(offset, page_rows)
        if rows:
            yield _text(rows, columns, header=False).encode()
        if len(rows) < page_rows:
            return
        offset += len(rows)
