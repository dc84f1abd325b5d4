"""Moving a conversation between channels with a short code.

A presenter starts in the browser, presses "continue by phone", and the page shows a 6-digit code; the caller keys
it in (DTMF) or says it (the agent calls ``continue_conversation``), and the phone agent picks up with what was said
and what the tools did. Codes are random, single-use, expire in minutes, and live in the store so any worker (or
replica) can redeem them; the two conversations are linked (``continued_from``).

A code opens another caller's transcript, so guessing is capped: after ``MAX_FAILED_CLAIMS`` wrong codes from one
session or one client (phone number, browser address) within ``LOCKOUT_S``, that session or client may not claim
at all until the window passes (``TooManyAttempts``). The count lives in the shared state (every worker's wrong
codes add up with ``REDIS_URL``); the claim itself is atomic in the store across processes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from .shared import LocalState, SharedState
from .store import Store

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_TTL = dt.timedelta(minutes=15)
MAX_FAILED_CLAIMS = 10
LOCKOUT_S = CODE_TTL.total_seconds()  # as long as a code lives: guessing through one lock-out gains nothing


class TooManyAttempts(Exception):
    """Too many wrong codes from this session or client; ``retry_after_s`` until claims are taken again."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many wrong handoff codes; try again in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


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
    def __init__(self, store: Store, state: SharedState | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        """``state``: where wrong codes are counted (``clock`` times this process's own count when it is None)."""
        self.store = store
        self._failures = state if state is not None else LocalState(clock)

    async def issue(self, conversation_id: str) -> str:
        expires = dt.datetime.now(dt.UTC) + CODE_TTL
        for _ in range(20):
            code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
            if await self.store.save_handoff(code, conversation_id, expires):
                logger.info("handoff code issued")
                return code
        raise RuntimeError("could not find a free handoff code")

    async def claim(self, code: str, claimed_by: str, client: str = "") -> Continuation | None:
        """The continuation ``code`` opens for session ``claimed_by`` (``client``: the caller's number or address).

        Raises ``TooManyAttempts`` while the session or the client is locked out after too many wrong codes."""
        keys = [f"handoff-fail:session:{claimed_by}"] + ([f"handoff-fail:client:{client}"] if client else [])
        retry = max([await self._failures.retry_after(key, MAX_FAILED_CLAIMS, LOCKOUT_S) for key in keys])
        if retry:
            logger.warning("handoff claim refused for session %s (client %s): too many wrong codes", claimed_by, client or "-")
            raise TooManyAttempts(retry)
        digits = "".join(ch for ch in code if ch.isdigit())
        source = await self.store.claim_handoff(digits, claimed_by) if len(digits) == CODE_DIGITS else None
        if source is None:
            for key in keys:
                await self._failures.hit(key, MAX_FAILED_CLAIMS, LOCKOUT_S)
            logger.info("handoff code refused for session %s (unknown, used or expired)", claimed_by)
            return None
        record = await self.store.conversation(source)
        results = await self.store.tool_results(source)
        history = [(t["role"], t["text"]) for t in record["turns"]] if record else []
        history += [("system", f"[{name}({args}) → {result}]") for name, args, result in results]
        logger.info("conversation %s continues here with %d items", source, len(history))
        return Continuation(source, record["agent"] if record else "", history, _step_from(results))
