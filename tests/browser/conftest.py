"""Browser end-to-end helpers: Debian's Chromium driven by Playwright, with a fake microphone fed from a WAV file,
and the gateway served on loopback.

Generic on purpose, so every browser test (WebRTC, WebSocket) launches Chromium the same way:

    wav = fake_mic_wav(tmp_path, "en_what_time", lead_ms=2500, tail_ms=8000)
    async with serve_gateway(settings) as (url, gw), launch_browser(wav, tmp_path) as context:
        page = await context.new_page()
        await page.goto(url)

Never ``playwright install``: the Debian package is used (``apt-get install chromium``), and the tests are
skipped when it is missing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.audio import AudioChunk, read_wav, resample, wav_bytes
from gateway.config import Settings
from gateway.emulators.serving import serve_app
from gateway.services import Gateway
from tests.conftest import ARTIFACTS, speech

logger = logging.getLogger(__name__)

FAKE_MIC_RATE = 48_000


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests need Debian's Chromium and Playwright's Python package; skip them (loudly) without."""
    missing = None
    if chromium_path() is None:
        missing = "Chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            missing = "playwright (Python) is not installed"
    if missing is None:
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=missing))


# ---- fake microphone -----------------------------------------------------------------------------------------------
def fake_mic_wav(directory: Path, utterance: str, *, lead_ms: int = 0, tail_ms: int = 6000, repeat: int = 1) -> Path:
    """A 48 kHz mono WAV for ``--use-file-for-fake-audio-capture``: silence, the fixture utterance, silence.

    Chromium loops the file, so the trailing silence decides when the caller "speaks again"; leading silence
    leaves room for the agent's greeting.
    """
    clip = read_wav(speech(utterance, 24))
    pcm = resample(clip.pcm, clip.rate, FAKE_MIC_RATE)
    silence = lambda ms: b"\0\0" * (FAKE_MIC_RATE * ms // 1000)  # noqa: E731
    body = silence(lead_ms) + (pcm + silence(600)) * repeat + silence(tail_ms)
    path = directory / f"mic-{utterance}-{lead_ms}-{tail_ms}.wav"
    path.write_bytes(wav_bytes(AudioChunk(body, FAKE_MIC_RATE)))
    return path


def chromium_args(wav: Path | None, *, grant_mic: bool = True) -> list[str]:
    """The flags verified on these machines (docs/testing.md); without ``grant_mic`` the mic prompt is refused."""
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--use-fake-device-for-media-stream",
    ]
    if grant_mic:
        args.append("--use-fake-ui-for-media-stream")
    if wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    return args


@contextlib.asynccontextmanager
async def launch_browser(
    wav: Path | None,
    profile_dir: Path,
    *,
    grant_mic: bool = True,
    viewport: dict[str, int] | None = None,
    init_script: str | None = None,
) -> AsyncIterator[Any]:
    """Headless Chromium with a fresh user-data-dir and the fake mic; yields a Playwright ``BrowserContext``.

    Console messages of every page are logged (shown when a test fails) and kept in ``context.console_lines``.
    """
    from playwright.async_api import async_playwright

    user_data = profile_dir / "chromium-profile"
    if user_data.exists():
        shutil.rmtree(user_data)
    user_data.mkdir(parents=True)
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(user_data),
            executable_path=chromium_path(),
            headless=True,
            args=chromium_args(wav, grant_mic=grant_mic),
            permissions=["microphone"] if grant_mic else [],
            viewport=viewport or {"width": 1200, "height": 820},
        )
        lines: list[str] = []
        context.console_lines = lines  # type: ignore[attr-defined]

        def note(line: str) -> None:
            lines.append(line)
            logger.info("browser: %s", line)  # shown in a failing test's report

        def watch(page: Any) -> None:
            page.on("console", lambda msg: note(f"[{msg.type}] {msg.text}"))
            page.on("pageerror", lambda exc: note(f"[pageerror] {exc}"))

        context.on("page", watch)
        for page in context.pages:
            watch(page)
        if init_script:
            await context.add_init_script(init_script)
        try:
            yield context
        finally:
            await context.close()


# ---- the gateway ---------------------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def serve_gateway(settings: Settings) -> AsyncIterator[tuple[str, Gateway]]:
    """The real app (``create_app``) on a loopback port; yields its base URL and its ``Gateway``."""
    from gateway.app import create_app

    app = create_app(settings)
    gw: Gateway = app.extensions["gateway"]
    if "webrtc" not in app.blueprints:  # until gateway/app.py mounts the WebRTC channel itself
        from channels.webrtc import create_webrtc_blueprint

        app.register_blueprint(create_webrtc_blueprint(gw))
    async with serve_app(app) as url:
        yield url, gw


# ---- page helpers --------------------------------------------------------------------------------------------------
async def wait_page(page: Any, expression: str, timeout_s: float = 10.0) -> Any:
    """Wait until a JavaScript expression is truthy in the page; returns its value."""
    handle = await page.wait_for_function(expression, timeout=timeout_s * 1000, polling=100)
    return await handle.json_value()


async def page_state(page: Any) -> dict[str, Any]:
    """A JSON copy of ``window.__voiceGateway``."""
    return json.loads(await page.evaluate("JSON.stringify(window.__voiceGateway)"))


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


@pytest.fixture
def artifacts() -> Callable[[str], Path]:
    return screenshot_path
