"""No socket that carries audio negotiates permessage-deflate, whatever the peer offers: base64 audio does not
compress, and deflating it was measured at 43 % of a loaded gateway's CPU. The Realtime emulator accepts compression
like common WebSocket servers do; the gateway's provider socket must come out of the handshake without it."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from gateway.emulators.realtime import RealtimeEmulator, Script
from gateway.emulators.stack import OPENAI_KEY
from gateway.engines.providers import realtime_target, ws_url
from gateway.engines.realtime import RealtimeSession
from gateway.services import Gateway
from tests.conftest import make_settings
from tests.integration.phone_rig import PREVIEW_API_VERSION


def provider_settings(url: str, dialect: str) -> dict[str, object]:
    if dialect == "openai-ga":
        return {"openai_api_key": OPENAI_KEY, "openai_base_url": f"{url}/v1"}
    values: dict[str, object] = {
        "azure_openai_endpoint": url,
        "azure_openai_api_key": OPENAI_KEY,
        "azure_openai_realtime_deployment": "my-realtime",
    }
    if dialect == "azure-preview":
        values["azure_openai_api_version"] = PREVIEW_API_VERSION
    return values


@pytest.mark.parametrize("native", [True, False], ids=["websockets-server", "hypercorn"])
@pytest.mark.parametrize("dialect", ["openai-ga", "azure-ga", "azure-preview"])
async def test_the_provider_socket_never_negotiates_compression(tmp_path: Path, dialect: str, native: bool) -> None:
    emulator = RealtimeEmulator(api_keys={OPENAI_KEY}, script=Script.replies("はい。"), accept_compression=True)
    async with emulator.serve(native=native) as url:
        # the peer really does compress for a client that offers it (else this test could not fail)
        headers = {"Authorization": f"Bearer {OPENAI_KEY}"}
        async with connect(f"{ws_url(url)}/v1/realtime?model=m", additional_headers=headers) as probe:
            await probe.recv()
        assert (await emulator.wait_for_session(1)).extensions == ["permessage-deflate"]

        settings = make_settings(tmp_path, **provider_settings(url, dialect))
        target = realtime_target(settings)
        assert target is not None
        gw = Gateway.build(settings)
        engine = RealtimeSession(target, gw.agent_setup("phone-test", "phone", "", gw.profile()))
        await engine.start()
        try:
            record = await emulator.wait_for_session(2)
            await record_configured(emulator, 2)
            assert record.extensions == [], f"the gateway's provider socket negotiated {record.extensions}"
        finally:
            await engine.close()


async def record_configured(emulator: RealtimeEmulator, n: int) -> None:
    """The engine's session.update arrived: the socket is the one the call would use."""
    record = emulator.sessions[n - 1]
    await emulator.wait_for(lambda _e: record.session_updates, timeout=5)
