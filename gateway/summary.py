"""A summary for every ended conversation: by the chat model when one is configured, else a plain digest.

This module only composes the text; ``StoreWriter`` asks for it (a few at a time) and writes it with every other
conversation write, so summaries never write to the store on their own.
"""

from __future__ import annotations

import logging
import re

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
        if not transcript:  # still a summary: history must not say "not written yet" forever
            return NOTHING_SAID
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


NOTHING_SAID = "会話の記録はありません（発話がないまま終了しました）。"
SENTENCE_END = re.compile(r"(?<=[。！？!?])")
BACKCHANNELS = {"はい", "うん", "うんうん", "ええ", "なるほど", "そうですか"}


def whole_sentences(text: str, limit: int = 80) -> str:
    """As many whole sentences as fit in ``limit`` characters; a single longer one is cut at a comma, never
    mid-word, and marked with "…"."""
    text = " ".join(text.split())
    taken = ""
    for sentence in (s.strip() for s in SENTENCE_END.split(text) if s.strip()):
        if taken and len(taken) + len(sentence) > limit:
            break
        taken += sentence
    if len(taken) <= limit:
        return taken
    cut = max(taken.rfind(mark, 0, limit) for mark in ("、", "，", ", ", " "))
    return (taken[:cut] if cut > limit // 3 else taken[:limit]).rstrip("、，, ") + "…"


def quoted(text: str, limit: int = 80) -> str:
    """Whole sentences for 「…」: the closing 。 is dropped, as Japanese writes a quotation (…です」と)."""
    return whole_sentences(text, limit).removesuffix("。")


def _digest(transcript: list[tuple[str, str]]) -> str:
    """Without a model: who wanted what and how the agent answered, in sentences a person would write (the
    caller's first real request and the agent's last answer), so history stays readable and searchable."""
    caller = [t for r, t in transcript if r == "user" and t.strip().rstrip("。、!?！？") not in BACKCHANNELS]
    agent = [t for r, t in transcript if r == "assistant" and t.strip()]
    parts = []
    if caller:
        parts.append(f"お客様は「{quoted(caller[0])}」とのご用件でした。")
        if len(caller) > 1:
            parts.append(f"最後に「{quoted(caller[-1], 60)}」とおっしゃいました。")
    else:
        parts.append("お客様からのご用件は聞き取れませんでした。")
    if agent:
        parts.append(f"エージェントは「{quoted(agent[-1])}」とご案内しました。")
    parts.append(f"（発話{len(transcript)}件からの自動まとめ）")
    return "".join(parts)
