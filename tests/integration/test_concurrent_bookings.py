"""Double booking and reservation numbers are decided by the database, not by a lock inside one process: two
``Store`` instances on one SQLite file (as two workers have) book the same vehicles at the same time."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from gateway.store import ReservationConflict, Store

START, END = dt.datetime(2031, 3, 1, 10), dt.datetime(2031, 3, 1, 18)


async def book_concurrently(stores: list[Store], attempts: int) -> tuple[list[dict], int]:
    """``attempts`` bookings of haneda's minivans (two in the fleet) for one period, spread over ``stores``."""

    async def book(i: int) -> dict | None:
        store = stores[i % len(stores)]
        try:
            return await store.create_reservation("haneda", START, END, f"客{i}", "minivan", f"s-{i}")
        except ReservationConflict:
            return None

    results = await asyncio.gather(*(book(i) for i in range(attempts)))
    booked = [r for r in results if r is not None]
    return booked, attempts - len(booked)


async def test_two_stores_on_one_file_never_double_book(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    stores = [Store(url), Store(url)]
    try:
        await stores[0].open()
        await stores[1].open()
        booked, refused = await book_concurrently(stores, 12)
        vehicles = sorted(b["vehicle"]["id"] for b in booked)
        assert vehicles == ["haneda-minivan-1", "haneda-minivan-2"], f"double booking: {vehicles}"
        assert refused == 10
        numbers = {b["reservation_number"] for b in booked}
        assert len(numbers) == 2, numbers
        for number in numbers:
            assert (await stores[0].reservation(number))["vehicle_type"] == "minivan"
        assert await book_concurrently(stores, 6) == ([], 6)  # both minivans stay taken for that period
        # a later period is free again, from either store
        later = await stores[1].create_reservation("haneda", END + dt.timedelta(days=1), END + dt.timedelta(days=2), "後", "minivan", None)
        assert later["reservation_number"].startswith("R-")
    finally:
        for store in stores:
            await store.close()
