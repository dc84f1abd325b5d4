"""Keyed digits collect into a handoff code; six of them continue a conversation begun on another channel."""

from __future__ import annotations

from gateway.conversation import Conversation
from gateway.handoff import CODE_DIGITS, TooManyAttempts
from gateway.services import Gateway

TOO_MANY = "引き継ぎコードの入力が多すぎるため、しばらく確認できません。お詫びして、このままご用件を伺ってください。"
INVALID = "お客様が入力された引き継ぎコードは無効でした。コードをご確認いただくようお願いしてください。"


class DtmfHandoff:
    def __init__(self, gw: Gateway, session_id: str, caller: str) -> None:
        self.gw = gw
        self.session_id = session_id
        self.caller = caller
        self._digits = ""

    def keyed(self, digits: str, conversation: Conversation) -> None:
        self._digits = (self._digits + digits)[-CODE_DIGITS:]
        if len(self._digits) == CODE_DIGITS:
            code, self._digits = self._digits, ""
            self.gw.spawn(self._continue_from(code, conversation), f"handoff-{self.session_id}")

    async def _continue_from(self, code: str, conversation: Conversation) -> None:
        await self.gw.writer.flush(timeout=5)
        try:
            continuation = await self.gw.handoffs.claim(code, self.session_id, self.caller)
        except TooManyAttempts:
            await conversation.engine.respond(TOO_MANY)
            return
        if continuation is None:
            await conversation.engine.respond(INVALID)
            return
        await conversation.continue_from(continuation)
