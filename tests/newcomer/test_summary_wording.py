"""History summaries read like a person wrote them: no role prefixes, no words cut mid-way, even without a model."""

from __future__ import annotations

from gateway.emulators.chat.steps import default_summary
from gateway.summary import NOTHING_SAID, _digest, whole_sentences

TRANSCRIPT = [
    ("assistant", "お電話ありがとうございます。レンタカー予約センターです。ご予約のご希望をお話しください。"),
    ("user", "来週の土曜日に東京でレンタカーを借りたいです。"),
    ("user", "はい。"),
    ("assistant", "かしこまりました。来週土曜日、東京駅店でコンパクトカーに空きがございます。朝十時からでよろしいですか。ご希望の車種があればお知らせください、お調べいたします。"),
]


def _readable(text: str) -> None:
    assert "user:" not in text and "assistant:" not in text and "[" not in text
    for quoted in text.split("「")[1:]:
        inner = quoted.split("」")[0]
        assert not inner.endswith("。") and (inner[-1] in "すたかね？?！…" or inner.endswith("ください")), f"cut mid-way: {inner!r}"
    assert "。」。" not in text


def test_the_digest_without_a_model_reads_like_a_summary() -> None:
    digest = _digest(TRANSCRIPT)
    _readable(digest)
    assert "「来週の土曜日に東京でレンタカーを借りたいです」" in digest and "はい" not in digest


def test_a_long_sentence_is_cut_at_a_comma_not_mid_word() -> None:
    long = "来週の土曜日の朝十時から夕方六時まで、東京駅の近くの店舗で、家族四人と大きな荷物が載るワゴン車を、できればカーナビ付きで借りたいのですが空いていますか。"
    cut = whole_sentences(long, 40)
    assert cut.endswith("…") and cut[:-1] in long and cut[-2] != "、"


def test_a_conversation_with_no_words_still_gets_a_summary() -> None:
    assert NOTHING_SAID and "not written" not in NOTHING_SAID


def test_the_emulated_chat_model_summarises_without_role_prefixes() -> None:
    text = "\n".join(f"{role}: {line}" for role, line in TRANSCRIPT)
    summary = default_summary(_Req(text))  # type: ignore[arg-type]
    _readable(summary)
    assert "借りたいです」" in summary


class _Req:
    """The one thing ``default_summary`` reads from a request: its user texts."""

    def __init__(self, text: str) -> None:
        self.text = text

    def texts(self, role: str) -> list[str]:
        return [self.text] if role == "user" else []
