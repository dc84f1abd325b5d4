"""What the emulated model says in the offline demo: an answer that fits what the caller said.

The emulators recognise the shipped caller recordings (``known_speech``); the demo's scripted model answers those
as a rent-a-car / support agent would, so a presenter sees a believable conversation. Speech it cannot recognise
gets an honest answer saying so. Tests keep their own scripts; only ``voice-gateway serve`` (offline) and
``voice-gateway demo`` use this one.
"""

from __future__ import annotations

from .realtime.script import ReplyContext, Say, Script

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


def phone_demo_script() -> Script:
    """The phone agent (Realtime WebSocket): ACS plays the greeting, the model answers every turn."""
    return Script(when_exhausted=Say(text=demo_reply, clips=("hello",)))


def webrtc_demo_script() -> Script:
    """The page's agent (WebRTC): it greets first, then answers every turn."""
    return Script(steps=[Say(text=GREETING, clips=("hello",))], when_exhausted=Say(text=demo_reply, clips=("hello",)))
