"""The console's demo calls on the Twilio line: calls placed by an in-process Twilio emulator are controlled (hang-up,
apology) through that emulator's REST API, every other call through ``TWILIO_API_BASE`` as before."""

from __future__ import annotations

from collections.abc import Callable

from channels.telephony.carrier import CallControl
from gateway.config import Settings

from .calls import TwilioCalls
from .control import TwilioControl

AttachTwilioEmulator = Callable[[str, Callable[[str], bool]], None]


class RoutedControl:
    """The line's call control: the emulator's for the CallSids it ``owns``, the real one for the rest."""

    def __init__(self, real: TwilioControl) -> None:
        self.real = real
        self.emulated: TwilioControl | None = None
        self.owns: Callable[[str], bool] = lambda call_sid: False

    def _for(self, call_id: str) -> TwilioControl:
        return self.emulated if self.emulated is not None and self.owns(call_id) else self.real

    async def warm(self) -> None:
        await self.real.warm()

    async def greet(self, call_id: str, text: str, voice: str, language: str) -> None:
        await self._for(call_id).greet(call_id, text, voice, language)

    async def start_bridge(self, call_id: str) -> None:
        await self._for(call_id).start_bridge(call_id)

    async def apologise(self, call_id: str, text: str, voice: str, language: str) -> None:
        await self._for(call_id).apologise(call_id, text, voice, language)

    async def hang_up(self, call_id: str) -> None:
        await self._for(call_id).hang_up(call_id)

    async def transfer(self, call_id: str, target: str, call_key: str) -> None:
        await self._for(call_id).transfer(call_id, target, call_key)

    async def close(self) -> None:
        await self.real.close()
        if self.emulated is not None:
            await self.emulated.close()


def emulated_calls_hook(line: TwilioCalls | None, settings: Settings) -> AttachTwilioEmulator | None:
    """Route ``line``'s control and return ``attach(api_base, owns)`` for the console (None: the line is off)."""
    if line is None:
        return None
    routed = RoutedControl(rest_control(line.control))
    line.control = routed

    def attach(api_base: str, owns: Callable[[str], bool]) -> None:
        routed.emulated = TwilioControl(settings.model_copy(update={"twilio_api_base": api_base}))
        routed.owns = owns

    return attach


def rest_control(control: CallControl) -> TwilioControl:
    """The REST control behind a line's (possibly routed) control: calls the gateway places or steers on its own
    (outbound dialling, answering-machine results) always go through ``TWILIO_API_BASE``."""
    real = control.real if isinstance(control, RoutedControl) else control
    assert isinstance(real, TwilioControl)
    return real
