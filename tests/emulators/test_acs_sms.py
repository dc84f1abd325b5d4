"""The ACS emulator's SMS endpoint, driven by the official ``azure-communication-sms`` async client: the SDK's HMAC
is checked exactly as for Call Automation, results come per recipient, delivery reports go to Event Grid."""

from __future__ import annotations

import pytest
from azure.communication.sms.aio import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from gateway.emulators.acs import DEFAULT_ACCESS_KEY, AcsEmulator

SENDER = "+815012345678"


async def test_the_sdk_sends_and_a_wrong_key_is_refused() -> None:
    acs = AcsEmulator()
    acs.sms_failures["+819011112222"] = "The recipient cannot receive SMS."
    async with acs.serve() as url:
        async with SmsClient(url, AzureKeyCredential(DEFAULT_ACCESS_KEY)) as client:
            ok, refused = await client.send(from_=SENDER, to=["+819012345678", "+819011112222"], message="ご予約ありがとうございます", enable_delivery_report=True, tag="t1")
        assert ok.successful and ok.message_id and not refused.successful and "cannot receive" in refused.error_message
        [sms] = acs.sms
        assert (sms.to, sms.from_, sms.message, sms.delivery_report, sms.tag) == ("+819012345678", SENDER, "ご予約ありがとうございます", True, "t1")
        forged = "Zm9yZ2VkLWtleS1mb3ItdGVzdHMtb25seS0wMTIzNDU2Nzg5MA=="
        async with SmsClient(url, AzureKeyCredential(forged)) as client:
            with pytest.raises(HttpResponseError) as refused_auth:
                await client.send(from_=SENDER, to="+819012345678", message="x")
        assert refused_auth.value.status_code == 401
        assert [r.status for r in acs.requests_for("sms")] == [202, 401] and len(acs.sms) == 1
