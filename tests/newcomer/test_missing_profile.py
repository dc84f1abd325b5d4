"""A chosen agent profile that disappears while the gateway runs is named on the page, not blamed on the provider."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.emulators.serving import serve_app
from gateway.offline import demo_stack, offline_values
from gateway.profiles import ProfileLibrary
from tests.browser.conftest import fake_mic_wav, launch_browser, screenshot_path
from tests.console.browser import wait_js

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["ja", "en"])
async def test_a_removed_profile_is_named(tmp_path: Path, lang: str) -> None:
    agents = tmp_path / "agents"
    shutil.copytree(ProfileLibrary(None).directory, agents)
    wav = fake_mic_wav(tmp_path, "ja_greeting_reply", lead_ms=500, tail_ms=4000)
    async with demo_stack() as stack:
        values = offline_values(stack, "http://127.0.0.1")
        values.update(database_url=f"sqlite:///{tmp_path}/x.db", agents_dir=agents, gateway_secret="s")
        app = create_app(Settings(_env_file=None, **values), emulated=True)
        async with serve_app(app) as url, launch_browser(wav, tmp_path, viewport={"width": 1280, "height": 800}) as context:
            page = await context.new_page()
            await page.goto(f"{url}/?lang={lang}&agent=rent-a-car")
            await wait_js(page, "window.__voiceGateway.state === 'idle'")
            (agents / "rent-a-car.md").unlink()  # removed while the page is open
            await page.click("#mic")
            await wait_js(page, "window.__voiceGateway.state === 'error'", 20)
            banner = await page.inner_text("#banner")
            await page.screenshot(path=str(screenshot_path(f"page-{lang}-missing-profile.png")))
            assert "rent-a-car" in banner and "provider" not in banner.lower() and "プロバイダー" not in banner
            assert await page.get_attribute("#banner", "data-key") == "agent_missing"
            options = await page.evaluate("[...document.querySelectorAll('#agent option')].map((o) => o.value)")
            assert "rent-a-car" not in options  # the list was refreshed
