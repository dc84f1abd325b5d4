"""Moving a conversation between channels with a short code.

A presenter starts in the browser, presses "continue by phone", and the page shows a 6-digit code; the caller keys
it in (DTMF) or says it (the agent calls ``continue_conversation``), and the phone agent picks up with what was said
and what the tools did. Codes are random, single-use, expire in minutes, and live in the store so any worker (or
replica) can redeem them; the two conversations are linked (``continued_from``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from dataclasses import dataclass

from .store import Store

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Continuation:
    conversation_id: str
    agent: str
    history: list[tuple[str, str]]
    step: str | None

    def briefing(self) -> str:
        """What the agent is told when it picks the conversation up."""
        return (
            "この会話は、お客様が別のチャネル（ブラウザまたは電話）で始めた会話の続きです。"
            "これまでのやり取りとツールの結果を踏まえ、同じ質問を繰り返さずに続きからご案内してください。"
        )


def _step_from(results: list[tuple[str, str, str]]) -> str | None:
    step = None
    for _name, _args, result in results:
        try:
            step = json.loads(result).get("next_step") or step
        except (ValueError, AttributeError):
            continue
    return step


class Handoffs:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def issue(self, conversation_id: str) -> str:
        expires = dt.datetime.now(dt.UTC) + CODE_TTL
        for _ in range(20):
            code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
            if await self.store.save_handoff(code, conversation_id, expires):
                logger.info("handoff code issued")
                return code
        raise RuntimeError("could not find a free handoff code")

    async def claim(self, code: str, claimed_by: str) -> Continuation | None:
        digits = "".join(ch for ch in code if ch.isdigit())
        if len(digits) != CODE_DIGITS:
            return None
        source = await self.store.claim_handoff(digits, claimed_by)
        if source is None:
            logger.info("handoff code refused (unknown, used or expired)")
            return None
        record = await self.store.conversation(source)
        results = await self.store.tool_results(source)
        history = [(t["role"], t["text"]) for t in record["turns"]] if record else []
        history += [("system", f"[{name}({args}) → {result}]") for name, args, result in results]
        logger.info("conversation %s continues here with %d items", source, len(history))
        return Continuation(source, record["agent"] if record else "", history, _step_from(results))
