"""The emulators' SSML reader: what Azure text to speech accepts, what it refuses, and what the voice says."""

from __future__ import annotations

import pytest

from gateway.emulators.ssml import Reading, SsmlError, parse_ssml, plain_text

HEAD = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xmlns:mstts='http://www.w3.org/2001/mstts'"


def doc(body: str, lang: str = "ja-JP", voice: str = "ja-JP-NanamiNeural") -> str:
    return f"{HEAD} xml:lang='{lang}'><voice name='{voice}'>{body}</voice></speak>"


def test_readings_replace_what_is_written() -> None:
    parsed = parse_ssml(doc(
        "<sub alias='やまだ'>山田</sub>様、<phoneme alphabet='sapi' ph=\"ゴ'ウセー\">合成</phoneme>の番号は"
        "<say-as interpret-as='telephone'>090-1234-5678</say-as>です。<break time='300ms'/>"
        "<mstts:silence type='Sentenceboundary' value='100ms'/><prosody rate='-10%'>以上です。</prosody>"
    ))  # fmt: skip
    assert parsed.voice == "ja-JP-NanamiNeural" and parsed.language == "ja-JP"
    assert parsed.text == "山田様、合成の番号は090-1234-5678です。以上です。"
    assert parsed.spoken == "やまだ様、ゴ'ウセーの番号は090-1234-5678です。以上です。"
    assert parsed.readings == [
        Reading("sub", "山田", "やまだ"),
        Reading("phoneme", "合成", "ゴ'ウセー", "sapi"),
        Reading("say-as", "090-1234-5678", "090-1234-5678", "telephone"),
    ]


def test_language_of_a_phoneme_follows_the_voice_and_lang_elements() -> None:
    # the SDK's own speak_text SSML says xml:lang='en-US' on <speak>; the voice decides the phone set
    with pytest.raises(SsmlError, match="sapi phone set of ja-JP"):
        parse_ssml(doc("<phoneme alphabet='sapi' ph='gousei'>合成</phoneme>", lang="en-US"))
    english = "<lang xml:lang='en-US'><phoneme alphabet='sapi' ph='t ao m ae t ow'>tomato</phoneme></lang>"
    assert parse_ssml(doc(english)).spoken == "t ao m ae t ow"


@pytest.mark.parametrize(
    ("ssml", "reason"),
    [
        (doc("a & b"), "not well-formed"),
        ("<speak>Hello world</speak>", "xmlns"),
        (HEAD + "><voice name='ja-JP-NanamiNeural'>はい</voice></speak>", "xml:lang"),
        (doc("はい").replace("version='1.0'", "version='1.1'"), "version"),
        (f"{HEAD} xml:lang='ja-JP'>はい</speak>", r"inside a \[voice\]"),
        (f"{HEAD} xml:lang='ja-JP'><voice>はい</voice></speak>", "'name'"),
        (doc("<foo>はい</foo>"), r"\[foo\] element is not allowed"),
        (doc("<mstts:dance>はい</mstts:dance>"), r"\[dance\] element is not allowed"),
        (doc("<sub>山田</sub>"), "alias"),
        (doc("<say-as interpret-as='digits'>123</say-as>"), "interpret-as value 'digits'"),
        (doc("<say-as>123</say-as>"), "interpret-as"),
        (doc("<phoneme alphabet='kana' ph='ヤマダ'>山田</phoneme>"), "alphabet 'kana'"),
        (doc("<phoneme alphabet='sapi'>山田</phoneme>"), "'ph'"),
        (doc("<phoneme alphabet='sapi' ph='やまだ'>山田</phoneme>"), "sapi phone set of ja-JP"),  # hiragana
        (doc("<phoneme alphabet='sapi' ph='山田'>山田</phoneme>"), "sapi phone set of ja-JP"),  # kanji
        (doc("<phoneme alphabet='sapi' ph='ヤマダ1'>山田</phoneme>"), "sapi phone set of ja-JP"),
        (doc("<break time='fast'/>"), "break"),
    ],
)
def test_documents_azure_refuses(ssml: str, reason: str) -> None:
    with pytest.raises(SsmlError, match=reason):
        parse_ssml(ssml)


def test_plain_text_of_a_broken_document() -> None:
    assert plain_text("<speak><voice name='x'>a &amp; <b>b</voice>") == "a &amp; b"
