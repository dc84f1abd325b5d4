"""The SMS after a call: the profile's template filled from the call's variables and the deciding tool's output,
sent only when that tool succeeded during the call (no SMS when the booking was not finished). The carriers'
senders live with their channels; the record keeps each message and its delivery status."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from .profiles import AgentProfile
from .services import Gateway
from .store.sms import SmsRecords

logger = logging.getLogger(__name__)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SmsSender(Protocol):
    async def send(self, to: str, text: str, tag: str) -> tuple[str, str]:
        """Send ``text`` to ``to``; returns (the carrier's message id, its first status). Raises when refused."""
        ...


def render(template: str, values: dict[str, Any]) -> str:
    """``{name}`` replaced by ``values[name]`` (scalars only); unknown names stay as written. Nothing else in the
    template is interpreted, so a value cannot reach into attributes or format specs."""

    def field(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else match.group(0)

    return _FIELD.sub(field, template)


class AfterCallSms:
    def __init__(self, gw: Gateway, senders: dict[str, SmsSender]) -> None:
        self.gw = gw
        self.senders = senders
        self.records = SmsRecords(gw.store)

    async def after_call(self, conversation_id: str, carrier: str, to: str, profile: AgentProfile, variables: dict[str, str]) -> str:
        """Send the profile's SMS if its condition holds; returns what became of it (``sent``, ``not_due``,
        ``failed``, ``none``: no SMS in the profile or no number to send from)."""
        rule = profile.sms_after_call
        sender = self.senders.get(carrier)
        if rule is None or sender is None:
            return "none"
        await self.gw.writer.flush(timeout=5)  # the call's tool calls are in the store before the condition is read
        outputs = await self.records.tool_outputs(conversation_id, rule.when_tool)
        if not outputs:
            logger.info("no SMS: %s did not succeed in this call", rule.when_tool)
            return "not_due"
        text = render(rule.text, {**outputs[-1], **variables})
        row = await self.records.create(conversation_id, carrier, to, text)
        try:
            message_id, status = await sender.send(to, text, conversation_id)
        except Exception as exc:  # refused by the carrier: recorded, the call itself is unaffected
            logger.error("SMS after the call not sent: %s", exc)
            await self.records.sent(row, "", "failed", str(exc))
            return "failed"
        await self.records.sent(row, message_id, status)
        logger.info("SMS after the call sent (%s, %s)", message_id, status)
        return "sent"
