"""The gateway's Twilio call control through the official SDK against the Twilio emulator's REST API."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from channels.twilio.control import TwilioControl
from gateway.emulators.twilio import TwilioEmulator
from tests.conftest import make_settings
from tests.integration.twilio_rig import ACCOUNT_SID, AUTH_TOKEN, call_sid


async def test_a_call_already_gone_is_not_an_error_but_a_wrong_token_is(tmp_path) -> None:
    emulator = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN)
    async with emulator.serve() as api:
        control = TwilioControl(make_settings(tmp_path, twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_base=api))
        try:
            await control.hang_up(call_sid(99))  # 404 / 20404: the call has ended already
            await control.apologise(call_sid(99), "申し訳ございません。", "Polly.Mizuki", "ja-JP")
        finally:
            await control.close()
        assert [r.status for r in emulator.requests] == [404, 404]
        assert all(r.authenticated and r.path.endswith(f"/Calls/{call_sid(99)}.json") for r in emulator.requests)
        forged = TwilioControl(make_settings(tmp_path, twilio_account_sid=ACCOUNT_SID, twilio_auth_token="wrong", twilio_api_base=api))
        try:
            with pytest.raises(TwilioRestException) as refused:
                await forged.hang_up(call_sid(99))
            assert refused.value.status == 401
        finally:
            await forged.close()
