"""The app's start-up pays what the first call would: SDK clients built, lazy SDK imports done, and the worker's
own figures (tasks, descriptors) reported to the console only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.app import create_app
from tests.conftest import make_settings

CARRIERS = {
    "acs_endpoint": "http://127.0.0.1:9",  # never dialled: the warm-up sends no request
    "acs_access_key": "a2V5",
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": "twilio-token",
    "twilio_api_base": "http://127.0.0.1:9",
    "openai_api_key": "sk-test",
    "public_base_url": "http://127.0.0.1:8000",
    "console_token": "tok-console-1",
}


async def test_start_up_builds_the_carriers_clients_and_reports_process_figures_to_the_console_only(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, **CARRIERS))
    acs = app.blueprints["acs"].phone_calls.control  # type: ignore[attr-defined]
    twilio = app.blueprints["twilio"].twilio_calls.control.real  # type: ignore[attr-defined]
    assert acs._client is None and twilio._client is None
    async with app.test_app() as test_app:
        assert acs._client is not None and twilio._client is not None
        client = test_app.test_client()
        anonymous = await (await client.get("/api/status")).get_json()
        assert "process" not in anonymous
        refused = await client.get("/api/console/status")
        assert refused.status_code == 401
        status = await client.get("/api/console/status", headers={"Authorization": "Bearer tok-console-1"})
        figures = (await status.get_json())["process"]
        assert figures["pid"] == os.getpid() and figures["asyncio_tasks"] > 0 and figures["open_fds"] > 0


CHECK_IMPORTS = """
import asyncio, sys
from gateway.app import create_app
from tests.conftest import make_settings
from pathlib import Path

LAZY = ("openai.resources.realtime", "websockets.asyncio.client", "azure.core.pipeline.transport._aiohttp")

async def main():
    app = create_app(make_settings(Path(sys.argv[1]), **{carriers}))
    before = [m for m in LAZY if m in sys.modules]
    async with app.test_app():
        after = [m for m in LAZY if m in sys.modules]
    print(before, after)

asyncio.run(main())
"""


def test_start_up_imports_what_the_sdks_would_import_on_the_first_call(tmp_path: Path) -> None:
    """In a fresh interpreter (this one has imported everything already): not imported by building the app, imported
    once it has started."""
    script = CHECK_IMPORTS.replace("{carriers}", repr(CARRIERS))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = done.stdout.strip().splitlines()[-1].split("] [")
    assert before == "[", done.stdout  # nothing of the three imported by building the app
    assert all(name in after for name in ("openai.resources.realtime", "websockets.asyncio.client", "azure.core.pipeline.transport._aiohttp"))


async def test_start_up_fetches_the_acs_signing_keys_so_the_first_callback_does_not_wait_for_them(tmp_path: Path) -> None:
    """Keys fetched at start-up: a callback's token still validates after the keys endpoint has gone away."""
    from gateway.emulators.acs import AcsEmulator

    acs = AcsEmulator()
    async with acs.serve() as acs_url:
        settings = make_settings(
            tmp_path, **{**CARRIERS, "acs_endpoint": acs_url, "acs_jwks_url": f"{acs_url}/calling/keys", "acs_resource_id": acs.config.resource_id}
        )
        app = create_app(settings)
        async with app.test_app():
            pass  # started, then stopped again: what the start-up fetched is what is kept
    validator = app.extensions["gateway"].acs_jwt
    assert await validator.validate(f"Bearer {acs.issuer.callback_token()}")
