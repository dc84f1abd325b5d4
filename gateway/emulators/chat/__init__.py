"""OpenAI / Azure OpenAI Chat Completions emulator driven by a reply script."""

from gateway.emulators.chat.emulator import (
    DEFAULT_KEY,
    ChatEmulator,
    ChatRequest,
    Fail,
    Reply,
    Step,
    ToolCall,
    content_text,
    default_reply,
    default_summary,
    split_sentences,
)

__all__ = [
    "DEFAULT_KEY",
    "ChatEmulator",
    "ChatRequest",
    "Fail",
    "Reply",
    "Step",
    "ToolCall",
    "content_text",
    "default_reply",
    "default_summary",
    "split_sentences",
]
