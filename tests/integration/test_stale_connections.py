"""A pooled connection to ACS that the far end closed for idleness is not reused (the soak's one lost call).

The emulated ACS sits behind a proxy that keeps idle connections only ``KEEP_ALIVE_S``: a request sent on a
connection idle for longer is cut unanswered, as when the far end's keep-alive timer fires just as it arrives.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from azure.communication.callautomation import CallRejectReason
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ServiceRequestError

from channels.acs import transport
from channels.acs.control import CallControl
from gateway.emulators.acs import AcsEmulator
from tests.conftest import make_settings
from tests.idle_close_proxy import IdleCloseProxy

KEEP_ALIVE_S = 0.4  # the far end's keep-alive in these tests
IDLE_S = KEEP_ALIVE_S + 0.2  # how long the client leaves its connection unused between two requests


def ringing(acs: AcsEmulator) -> str:
    return acs.new_call(caller="+819011112222", callee=acs.config.acs_number).incoming_call_context


async def test_the_sdk_s_own_pool_reuses_a_connection_the_far_end_has_closed(tmp_path) -> None:
    """The failure itself, without the gateway's transport: the second request meets the closed connection."""
    acs = AcsEmulator()
    async with acs.serve() as url:
        proxy = IdleCloseProxy(int(url.rsplit(":", 1)[1]), KEEP_ALIVE_S)
        credential = AzureKeyCredential(acs.config.access_key)
        async with proxy.serve() as proxied, CallAutomationClient(proxied, credential) as client:
            await client.reject_call(ringing(acs), call_reject_reason=CallRejectReason.BUSY)
            await asyncio.sleep(IDLE_S)
            with pytest.raises(ServiceRequestError, match="(?i)disconnected"):
                await client.reject_call(ringing(acs), call_reject_reason=CallRejectReason.BUSY)
    assert proxy.cut == 1


async def test_call_control_opens_a_fresh_connection_after_the_idle_keep_alive(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(transport, "POOL_IDLE_S", KEEP_ALIVE_S / 2)  # under the far end's, as 4 s is under 5 s
    acs = AcsEmulator()
    async with acs.serve() as url:
        proxy = IdleCloseProxy(int(url.rsplit(":", 1)[1]), KEEP_ALIVE_S)
        async with proxy.serve() as proxied:
            control = CallControl(make_settings(tmp_path, acs_endpoint=proxied, acs_access_key=acs.config.access_key))
            try:
                with caplog.at_level(logging.WARNING, logger="channels.acs.control"):
                    first, second = ringing(acs), ringing(acs)
                    await control.reject(first)
                    await asyncio.sleep(IDLE_S)
                    await control.reject(second)
            finally:
                await control.close()
    assert proxy.cut == 0 and proxy.connections == 2  # a new connection, not the stale one
    assert not [r for r in caplog.records if "sending it again" in r.getMessage()]  # not rescued by the retry
    assert {acs.call_by_context(c).reject_reason for c in (first, second)} == {"busy"}
