"""Headless Chromium for the console tests: Debian's package driven by Playwright (never ``playwright install``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ARTIFACTS

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def needs_chromium() -> None:
    if chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.async_api", reason="playwright (Python) is not installed")


@contextlib.asynccontextmanager
async def chromium_page(viewport: dict[str, int] | None = None) -> AsyncIterator[Any]:
    """A fresh page in a fresh browser; page errors are collected on ``page.errors``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
        try:
            context = await browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
            page = await context.new_page()
            page.errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and page.errors.append(msg.text))
            yield page
        finally:
            await browser.close()


async def wait_js(page: Any, expression: str, timeout_s: float = 10.0) -> Any:
    """Wait until ``expression`` is truthy in the page. Polled from here: ``wait_for_function`` needs ``eval``, which
    the console's Content-Security-Policy rightly forbids (and the tests run with that policy enforced)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not true within {timeout_s}s: {expression}")
        await asyncio.sleep(0.05)


async def login(page: Any, url: str, token: str) -> None:
    """Through the login form, as a presenter would: the page then runs on the HttpOnly cookie."""
    first = await page.goto(f"{url}/console")
    assert first is not None and first.status == 401  # the login form, and nothing else, without the token
    page.errors.clear()  # Chromium reports that 401 as a failed load
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await wait_js(page, "window.__console && window.__console.connection === 'live'")


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name
