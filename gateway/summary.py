"""A summary for every ended conversation: by the chat model when one is configured, else a plain digest.

This module only composes the text; ``StoreWriter`` asks for it (a few at a time) and writes it with every other
conversation write, so summaries never write to the store on their own.
"""

from __future__ import annotations

import logging

from openai import AsyncOpenAI, OpenAIError

from .store import Store

logger = logging.getLogger(__name__)

PROMPT = (
    "以下は音声エージェントとお客様の通話記録です。用件、確認した事実（予約番号・日時・電話番号など）、結果、"
    "次に必要な対応を、日本語で3行以内に要約してください。"
)


class Summarizer:
    def __init__(self, store: Store, chat: tuple[AsyncOpenAI, str] | None) -> None:
        self.store = store
        self.chat = chat

    async def compose(self, conversation_id: str) -> str | None:
        transcript = await self.store.transcript(conversation_id)
        if not transcript:
            return None
        text = "\n".join(f"{role}: {line}" for role, line in transcript)
        summary = None
        if self.chat is not None:
            client, model = self.chat
            try:
                reply = await client.chat.completions.create(
                    model=model,
                    messages=[{"role": "system", "content": PROMPT}, {"role": "user", "content": text[-12000:]}],
                    max_tokens=300,
                    timeout=30,
                )
                summary = (reply.choices[0].message.content or "").strip()
            except (OpenAIError, IndexError) as exc:
                reason = getattr(exc, "status_code", None) or (str(exc).splitlines() or [type(exc).__name__])[0][:160]
                logger.warning("summary of %s by the chat model failed (%s); kept a digest instead", conversation_id, reason)
        if not summary:
            summary = _digest(transcript)
        return summary


def _digest(transcript: list[tuple[str, str]]) -> str:
    """Without a model: the caller's first words and the agent's last, so history stays searchable."""
    first_user = next((t for r, t in transcript if r == "user"), "")
    last_agent = next((t for r, t in reversed(transcript) if r == "assistant"), "")
    return f"[自動要約なし] お客様: {first_user[:120]} / エージェント: {last_agent[:120]}"
