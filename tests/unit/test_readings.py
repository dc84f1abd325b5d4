"""The reading rules with the field report's cases and the full tables (days, months, hours, phone formats)."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from gateway import readings
from gateway.readings import numbers
from gateway.readings.dictionary import parse_readings
from gateway.readings.phone import groups

FIELD_DICTIONARY = parse_readings(
    """
words:
  - {word: 三田, context: 目黒区, reading: ミタ}
  - {word: 三田, context: 兵庫県, reading: サンダ}
  - {word: 新宿, context: 葛飾区, reading: ニイジュク}
""",
    "test readings",
)


def claimed(text: str, **kwargs) -> list[tuple[str, str]]:
    """The pieces a rule or the dictionary claimed, as (written, reading)."""
    return [(p.text, p.reading) for p in readings.pieces(text, **kwargs) if p.reading]


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("4月1日に伺います", "シガツツイタチ"),
        ("5月20日", "ゴガツハツカ"),
        ("6月10日", "ロクガツトオカ"),
        ("1/3の予定", "イチガツミッカ"),
        ("4/21(月)", "シガツニジュウイチニチゲツヨウビ"),
        ("2026-04-21", "ニセンニジュウロクネンシガツニジュウイチニチ"),
        ("2026年4月21日(火)", "ニセンニジュウロクネンシガツニジュウイチニチカヨウビ"),
        ("9:00〜10:00", "クジカラジュウジマデ"),
        ("4/21〜4/23", "シガツニジュウイチニチカラシガツニジュウサンニチマデ"),
        ("9時半～17時", "クジハンカラジュウシチジマデ"),
        ("13:05", "ジュウサンジゴフン"),
        ("〒123-4567", "ユウビンバンゴウ"),
        ("R-2041", "アール ニー ゼロ ヨン イチ"),
        ("1,234円", "センニヒャクサンジュウヨエン"),
        ("¥12,000", "イチマンニセンエン"),
        ("3万円", "サンマンエン"),
        ("20日間", "ハツカカン"),
        ("十日", "トオカ"),
    ],
)
def test_rules_read_the_field_reports_forms(text: str, reading: str) -> None:
    assert "".join(r for _, r in claimed(text)).startswith(reading)


def test_every_day_of_a_month_is_read_as_a_date() -> None:
    expected = [
        "ツイタチ", "フツカ", "ミッカ", "ヨッカ", "イツカ", "ムイカ", "ナノカ", "ヨウカ", "ココノカ", "トオカ",
        "ジュウイチニチ", "ジュウニニチ", "ジュウサンニチ", "ジュウヨッカ", "ジュウゴニチ", "ジュウロクニチ",
        "ジュウシチニチ", "ジュウハチニチ", "ジュウクニチ", "ハツカ", "ニジュウイチニチ", "ニジュウニニチ",
        "ニジュウサンニチ", "ニジュウヨッカ", "ニジュウゴニチ", "ニジュウロクニチ", "ニジュウシチニチ",
        "ニジュウハチニチ", "ニジュウクニチ", "サンジュウニチ", "サンジュウイチニチ",
    ]  # fmt: skip
    for day, reading in enumerate(expected, start=1):
        assert claimed(f"7月{day}日") == [(f"7月{day}日", "シチガツ" + reading)]
        assert claimed(f"7/{day}") == [(f"7/{day}", "シチガツ" + reading)]


def test_every_month_and_every_hour() -> None:
    months = ["イチ", "ニ", "サン", "シ", "ゴ", "ロク", "シチ", "ハチ", "ク", "ジュウ", "ジュウイチ", "ジュウニ"]
    for month, reading in enumerate(months, start=1):
        assert claimed(f"{month}月2日") == [(f"{month}月2日", reading + "ガツフツカ")]
    hours = ["レイ", "イチ", "ニ", "サン", "ヨ", "ゴ", "ロク", "シチ", "ハチ", "ク", "ジュウ", "ジュウイチ", "ジュウニ"]
    hours += ["ジュウサン", "ジュウヨ", "ジュウゴ", "ジュウロク", "ジュウシチ", "ジュウハチ", "ジュウク"]
    hours += ["ニジュウ", "ニジュウイチ", "ニジュウニ", "ニジュウサン"]
    for hour, reading in enumerate(hours):
        assert claimed(f"{hour}:00") == [(f"{hour}:00", reading + "ジ")]
        assert claimed(f"{hour}時") == [(f"{hour}時", reading + "ジ")]


def test_impossible_dates_and_times_are_not_read_as_such() -> None:
    assert claimed("13/45") == []
    assert claimed("25:00") == []
    assert claimed("2/0") == []
    assert claimed("1日だけ") == []  # イチニチ or ツイタチ: only a month decides
    assert claimed("2時間ほど") == []  # a duration, not a time of day
    assert claimed("3日後") == [("3日", "ミッカ")]


@pytest.mark.parametrize(
    ("number", "grouped"),
    [
        ("09011001234", "090-1100-1234"),
        ("08012345678", "080-1234-5678"),
        ("07012345678", "070-1234-5678"),
        ("05012345678", "050-1234-5678"),
        ("0312345678", "03-1234-5678"),
        ("0612345678", "06-1234-5678"),
        ("0112345678", "011-234-5678"),
        ("0422123456", "042-212-3456"),
        ("0466123456", "0466-12-3456"),
        ("0995123456", "0995-12-3456"),
        ("0120123456", "0120-123-456"),
        ("08001234567", "0800-123-4567"),
        ("0570123456", "0570-123-456"),
        ("03-1234-5678", "03-1234-5678"),
        ("0467-12-3456", "0467-12-3456"),
        ("03(1234)5678", "03-1234-5678"),
        ("+81 90-1234-5678", "090-1234-5678"),
    ],
)
def test_phone_numbers_group_by_japanese_numbering(number: str, grouped: str) -> None:
    assert "-".join(groups(number)) == grouped
    written = [text for text, _ in claimed(f"お電話番号は{number}ですね")]
    assert "".join(w for w in written if w != "-").replace("-", "") == grouped.replace("-", "")


def test_phone_number_is_read_digit_by_digit_without_skipping() -> None:
    assert readings.read_phone("09011001234") == "ゼロキュウゼロ、イチイチゼロゼロ、イチニーサンヨン"
    with_no = parse_readings("phone_group_separator: の", "t")
    assert readings.katakana("090-1234-5678", with_no) == "ゼロキュウゼロノイチニーサンヨンノゴーロクナナハチ"


def test_postal_codes_and_codes() -> None:
    assert claimed("〒123-4567 東京都") == [("〒", "ユウビンバンゴウ"), ("123", "イチニーサン"), ("4567", "ヨンゴーロクナナ")]
    assert claimed("郵便番号は100-0001です")[-1] == ("0001", "ゼロゼロゼロイチ")
    assert claimed("予約番号はAB-0012です") == [("AB-0012", "エー ビー ゼロ ゼロ イチ ニー")]
    assert claimed("SUVとA4の紙") == []  # words and sizes are not codes


def test_numbers_read_as_quantities() -> None:
    assert numbers.cardinal(0) == "ゼロ"
    assert numbers.cardinal(10_000_000) == "イッセンマン"
    assert [numbers.cardinal(n * 10**12) for n in (1, 8, 10, 3)] == ["イッチョウ", "ハッチョウ", "ジュッチョウ", "サンチョウ"]
    assert readings.spoken_text("受付は08:00-20:00です") == "受付はハチジカラニジュウジマデです"
    assert numbers.cardinal(123_456_789) == "イチオクニセンサンビャクヨンジュウゴマンロクセンナナヒャクハチジュウキュウ"
    assert numbers.cardinal(3600) == "サンゼンロッピャク"
    assert numbers.cardinal(8800) == "ハッセンハッピャク"
    assert numbers.yen(4) == "ヨエン"
    assert numbers.year(2024) == "ニセンニジュウヨネン"
    assert [numbers.minute(m) for m in (1, 3, 6, 8, 10, 30, 45)] == [
        "イップン", "サンプン", "ロップン", "ハップン", "ジュップン", "サンジュップン", "ヨンジュウゴフン",
    ]  # fmt: skip


def test_place_names_follow_the_dictionary_and_their_context() -> None:
    assert claimed("葛飾区新宿", dictionary=FIELD_DICTIONARY) == [("新宿", "ニイジュク")]
    assert claimed("新宿駅", dictionary=FIELD_DICTIONARY) == []  # no context: the voice's own しんじゅく
    assert claimed("三田の倉庫", dictionary=FIELD_DICTIONARY, context="東京都目黒区三田1-2") == [("三田", "ミタ")]
    assert claimed("兵庫県三田市", dictionary=FIELD_DICTIONARY) == [("三田", "サンダ")]


def test_mixed_text_keeps_every_character_in_order() -> None:
    text = "4/21(月)9:00〜10:00に、葛飾区新宿の倉庫へ。お電話は090-1100-1234、料金は3,300円です。"
    parts = readings.pieces(text, FIELD_DICTIONARY)
    assert "".join(p.text for p in parts) == text
    assert [p.reading for p in parts if p.reading][:2] == ["シガツニジュウイチニチゲツヨウビ", "クジカラジュウジマデ"]


def test_katakana_uses_the_reading_form() -> None:
    assert readings.katakana("6月10日に伺います") == "ロクガツトオカニウカガイマス"
    assert readings.katakana("葛飾区新宿", FIELD_DICTIONARY) == "カツシカクニイジュク"
    assert readings.katakana("目黒区三田") == "メグロクミタ"
    # numbers and counters keep the analyser's sound changes; everything else its reading-form spelling
    assert readings.katakana("4時間で1分と3本") == "ヨジカンデイップントサンボン"
    assert readings.katakana("東京都の八百屋は") == "トウキョウトノヤオヤハ"


def test_ssml_is_valid_escaped_and_uses_sub_alias() -> None:
    doc = readings.ssml('A&B <b>"株"\'s 葛飾区新宿 090-1100-1234', "ja-JP-NanamiNeural", dictionary=FIELD_DICTIONARY)
    root = ET.fromstring(doc)
    ns = "{http://www.w3.org/2001/10/synthesis}"
    assert root.tag == f"{ns}speak" and root.attrib["{http://www.w3.org/XML/1998/namespace}lang"] == "ja-JP"
    voice = root.find(f"{ns}voice")
    assert voice is not None and voice.attrib["name"] == "ja-JP-NanamiNeural"
    assert "".join(voice.itertext()) == 'A&B <b>"株"\'s 葛飾区新宿 0901100' + "1234"
    subs = [(s.text, s.attrib["alias"]) for s in voice.iter(f"{ns}sub")]
    assert subs[0] == ("新宿", "ニイジュク") and ("1100", "イチイチゼロゼロ") in subs
    assert len(list(voice.iter(f"{ns}break"))) == 2
    assert {el.tag.removeprefix(ns) for el in root.iter()} == {"speak", "voice", "sub", "break"}


def test_hd_voices_get_no_break_elements() -> None:
    doc = readings.ssml("090-1100-1234", "ja-JP-Nanami:DragonHDLatestNeural")
    assert "<break" not in doc and "、" in doc
    ET.fromstring(doc)


def test_spoken_forms_for_tools() -> None:
    assert readings.read_date(dt.date(2026, 11, 28)) == "ジュウイチガツニジュウハチニチ ドヨウビ"
    assert readings.read_time(dt.time(18, 30)) == "ゴゴ ロクジサンジュップン"
    assert readings.read_time(dt.time(9, 0)) == "ゴゼン クジ"
    assert readings.read_code("R-0012") == "アール ゼロ ゼロ イチ ニー"
    assert readings.format_phone("09012345678") == "090-1234-5678"


def test_full_width_text_is_read_and_kept_as_written() -> None:
    assert claimed("４月１日（月）") == [("４月１日（月）", "シガツツイタチゲツヨウビ")]
    assert claimed("０９０－１１００－１２３４")[0] == ("０９０", "ゼロキュウゼロ")
    assert claimed("０９０ー１１００ー１２３４") == [("０９０", "ゼロキュウゼロ"), ("１１００", "イチイチゼロゼロ"), ("１２３４", "イチニーサンヨン")]
    text = "ご用件はございますか？"
    assert "".join(p.text for p in readings.pieces(text)) == text


def test_a_sapi_reading_becomes_a_phoneme_on_neural_voices_only() -> None:
    accented = parse_readings("words:\n  - {word: 合成, reading: ゴウセイ, sapi: \"ゴ'ウセ\"}\n", "t")
    neural = ET.fromstring(readings.ssml("音声合成", "ja-JP-NanamiNeural", dictionary=accented))
    phoneme = neural.find(".//{http://www.w3.org/2001/10/synthesis}phoneme")
    assert phoneme is not None and phoneme.attrib == {"alphabet": "sapi", "ph": "ゴ'ウセ"} and phoneme.text == "合成"
    hd = readings.ssml("音声合成", "ja-JP-Nanami:DragonHDLatestNeural", dictionary=accented)
    assert "<phoneme" not in hd and '<sub alias="ゴウセイ">合成</sub>' in hd


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("{word: 新宿, reading: にいじゅく}", "words.0.reading"),
        ("{word: 新宿, reading: ニイジュク, sapi: ni-juku}", "words.0.sapi"),
        ("{reading: ニイジュク}", "words.0.word"),
    ],
)
def test_bad_entries_are_refused_with_where_and_how(entry: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_readings(f"words:\n  - {entry}\n", "readings.yaml")
    assert str(caught.value).startswith("readings.yaml: ") and "fix" in str(caught.value)
