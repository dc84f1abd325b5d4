"""OpenAI / Azure OpenAI Chat Completions emulator driven by a reply script."""

from gateway.emulators.chat.emulator import DEFAULT_KEY, ChatEmulator
from gateway.emulators.chat.records import ChatRequest, content_text
from gateway.emulators.chat.responses import split_sentences
from gateway.emulators.chat.steps import Fail, Reply, Step, ToolCall, default_reply, default_summary

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
