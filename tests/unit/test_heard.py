"""What the record keeps of an agent turn the caller cut off: the share of its text that was played."""

from __future__ import annotations

from gateway.events import TranscriptAmended, TranscriptFinal
from gateway.heard import HeardTranscripts, heard_part

RATE = 24_000
BYTES_PER_S = RATE * 2
TEXT = "ご予約の内容を確認いたします。お名前と日付をお願いします。"


def test_heard_part_cuts_in_proportion_and_marks_the_cut() -> None:
    assert heard_part(TEXT, 0.5) == TEXT[: round(len(TEXT) / 2)] + "…"
    assert heard_part(TEXT, 0.0) == "…"
    assert heard_part(TEXT, 0.99) == TEXT  # played to the end, near enough


def test_a_turn_recorded_before_the_barge_in_is_amended() -> None:
    heard = HeardTranscripts(RATE)
    for _ in range(4):
        heard.audio("item_1", BYTES_PER_S)  # 4 s of the reply reached the device
    final = heard.final(TranscriptFinal("assistant", TEXT, "item_1"))
    assert final.text == TEXT and not final.interrupted
    amended = heard.interrupted("item_1", 1000)  # the caller talked over it after 1 s
    assert amended == TranscriptAmended("item_1", TEXT, heard_part(TEXT, 0.25))
    assert heard.interrupted("other", 1000) is None  # an unknown item: nothing recorded to amend


def test_a_turn_that_arrives_after_the_barge_in_is_recorded_cut() -> None:
    heard = HeardTranscripts(RATE)
    heard.audio("item_2", 2 * BYTES_PER_S)
    assert heard.interrupted("item_2", 1500) is None  # no text yet: the cut waits for it
    final = heard.final(TranscriptFinal("assistant", TEXT, "item_2"))
    assert final.interrupted and final.text == heard_part(TEXT, 0.75)
    later = heard.final(TranscriptFinal("assistant", "はい。", "item_3"))
    assert later.text == "はい。" and not later.interrupted


def test_a_turn_heard_to_the_end_is_left_alone() -> None:
    heard = HeardTranscripts(RATE)
    heard.audio("item_4", BYTES_PER_S)
    heard.final(TranscriptFinal("assistant", TEXT, "item_4"))
    assert heard.interrupted("item_4", 1000) is None
