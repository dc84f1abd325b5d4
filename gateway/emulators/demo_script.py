"""What the emulated model says in the offline demo: an answer that fits what the caller said.

The emulators recognise the shipped caller recordings (``known_speech``); the demo's scripted model answers those
as a rent-a-car / support agent would, so a presenter sees a believable conversation. Speech it cannot recognise
gets an honest answer saying so. Tests keep their own scripts; only ``voice-gateway serve`` (offline) and
``voice-gateway demo`` use this one.
"""

from __future__ import annotations

import json
import re

from .realtime.script import CallTool, Pick, ReplyContext, Say, Script

GREETING = "お電話ありがとうございます。ご用件をお話しください。"
UNKNOWN = "申し訳ございません。このデモのエージェントは収録済みの例文だけを聞き取れます。もう一度お話しいただくか、コンソールのデモ通話をお試しください。"

#: (words the caller's turn contains, the agent's answer), first match wins
REPLIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("レンタカー",), "かしこまりました。来週の土曜日、東京でのレンタカーのご予約ですね。ご希望の店舗とご利用のお時間をお聞かせください。"),
    (("東京駅",), "東京駅店で、朝十時から夕方六時までですね。コンパクトカーとワゴンに空きがございます。どちらになさいますか。"),
    (("コンパクト",), "コンパクトカーで承ります。ご連絡先のお電話番号をお願いいたします。"),
    (("電話番号",), "ありがとうございます。お電話番号を確認いたしました。ご予約を確定いたしました。"),
    (("すみません", "待って"), "はい、ごゆっくりどうぞ。お待ちしております。"),
    (("ありがとう", "失礼"), "お電話ありがとうございました。失礼いたします。"),
    (("What time", "何時"), "ただいま、時刻をお調べしております。少々お待ちください。"),
    (("こんにちは",), "こんにちは。本日はどのようなご用件でしょうか。"),
    (("はい", "うん", "なるほど"), "はい。ほかにご不明な点はございますか。"),
)


def demo_reply(ctx: ReplyContext) -> str:
    said = (ctx.user_transcript or "").strip()
    if not said:
        return GREETING
    return next((answer for words, answer in REPLIES if any(w in said for w in words)), UNKNOWN)


MEETING_TOOLS = ("find_free_slots", "book_meeting")  # a profile naming these is the outbound meeting booking
AGREEING = ("はい", "お願い", "ええ", "大丈夫")
_CALL_DATA_NAME = re.compile(r'"name":\s*"([^"\\]{1,40})"')


def _output(ctx: ReplyContext, tool: str) -> dict:
    try:
        value = json.loads(ctx.tool_outputs.get(tool, "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _offer(ctx: ReplyContext) -> str:
    slots = ctx.output.get("slots") if isinstance(ctx.output, dict) else None
    if not slots:
        return "申し訳ございません。あいにく近いうちに空いている日時がございません。担当者から改めてご連絡いたします。"
    spoken = "、または".join(slot["spoken"] for slot in slots[:2])
    return f"ありがとうございます。{spoken}はいかがでしょうか。"


def _booked(ctx: ReplyContext) -> str:
    output = ctx.output if isinstance(ctx.output, dict) else {}
    if not output.get("ok"):
        return "申し訳ございません。その日時はちょうど埋まってしまいました。別の日時をお調べいたします。"
    return f"{output['meeting_spoken']}で承りました。確認のショートメッセージをお送りします。ありがとうございました。"


def meeting_step(ctx: ReplyContext) -> Say | CallTool:
    """The outbound meeting booking, walked with the shipped recordings: greet and ask for the person by the call
    data's name → look up free slots → the callee agrees ("はい") → book the first slot → thank and close."""
    booked, offered = _output(ctx, "book_meeting"), _output(ctx, "find_free_slots")
    if ctx.response_index == 0 or not (ctx.user_transcript or "").strip():
        name = _CALL_DATA_NAME.search(ctx.instructions)
        who = f"{name.group(1)}様" if name else "ご担当者様"
        return Say(f"お世話になっております。サンプル商事のAIアシスタントでございます。{who}でいらっしゃいますか。", ("hello",))
    if booked.get("ok"):
        return Say("お時間をいただきありがとうございました。失礼いたします。", ("goodbye",))
    if offered.get("slots") and any(word in ctx.user_transcript for word in AGREEING):
        name = _CALL_DATA_NAME.search(ctx.instructions)
        arguments = {"slotId": offered["slots"][0]["slot_id"], "name": name.group(1) if name else "ご担当者"}
        return CallTool("book_meeting", arguments, then=Say(text=_booked, clips=("hello",)))
    return CallTool("find_free_slots", {}, preamble=None, then=Say(text=_offer, clips=("hello",)))


def phone_step(ctx: ReplyContext) -> Say | CallTool:
    """Which demo the call is: the meeting booking when the profile names its tools, else the inbound answers."""
    if all(tool in ctx.instructions for tool in MEETING_TOOLS):
        return meeting_step(ctx)
    return Say(text=demo_reply, clips=("hello",))


def phone_demo_script() -> Script:
    """The phone agent (Realtime WebSocket): ACS plays the greeting (or the agent greets), then the model answers
    every turn; on the outbound meeting booking it also calls the booking tools."""
    return Script(when_exhausted=Pick(phone_step))


def webrtc_demo_script() -> Script:
    """The page's agent (WebRTC): it greets first, then answers every turn."""
    return Script(steps=[Say(text=GREETING, clips=("hello",))], when_exhausted=Say(text=demo_reply, clips=("hello",)))
