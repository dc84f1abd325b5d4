"""What a caller said, as transcribed, back to digits; and the round trip reading → transcript → digits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import readings
from gateway.readings import numbers, spoken_digits
from gateway.readings.digits import to_hiragana


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("ぜろきゅうぜろのいちにーさんよん", "0901234"),
        ("千二百三十四", "1234"),
        ("いちにーさんよん", "1234"),
        ("０９０ー１１００ー１２３４", "09011001234"),
        ("えーと、あの、ゼロキュウゼロ、イチイチゼロゼロ", "0901100"),
        ("090の1234の5678です", "09012345678"),
        ("ぜろさんのいちにさんよんのごろくななはち", "0312345678"),
        ("しちはちきゅう", "789"),
        ("よんまるいちに", "4012"),
        ("にせんにじゅうろく", "2026"),
        ("さんびゃくろくじゅうご", "365"),
        ("ろっぴゃく", "600"),
        ("はっせん", "8000"),
        ("一万二千", "12000"),
        ("〇九〇", "090"),
        ("車両番号は1234です", "1234"),
        ("ええと、いち、に、さん、よんです", "1234"),
        ("", ""),
        ("わかりません", ""),
    ],
)
def test_spoken_numbers_become_digits(said: str, digits: str) -> None:
    assert spoken_digits(said) == digits


def test_names_compare_without_kana_type_width_or_spaces() -> None:
    assert readings.normalize_name("ヤマダ タロウ") == readings.normalize_name("やまだたろう")
    assert readings.normalize_name("ﾔﾏﾀﾞ") == readings.normalize_name("やまだ")
    assert readings.normalize_name("山田") != readings.normalize_name("やまだ")


def test_kana_conversion_is_width_and_type_insensitive() -> None:
    assert to_hiragana("ゼロキュウ") == "ぜろきゅう"
    assert to_hiragana("０９０") == "090"


@given(st.from_regex(r"0[0-9]{9,10}", fullmatch=True))
def test_round_trip_phone_numbers(number: str) -> None:
    """A phone number read by the module, transcribed back in kana by the parser, is the number again."""
    assert spoken_digits(to_hiragana(readings.read_phone(number))) == number


@given(st.from_regex(r"[0-9]{1,12}", fullmatch=True))
def test_round_trip_digit_strings(digits: str) -> None:
    assert spoken_digits(to_hiragana(numbers.digits(digits))) == digits
    assert spoken_digits(numbers.digits(digits)) == digits


@given(st.integers(min_value=1, max_value=99_999_999))
def test_round_trip_quantities(value: int) -> None:
    assert spoken_digits(to_hiragana(numbers.cardinal(value))) == str(value)


@given(st.from_regex(r"[A-Z]-[0-9]{4}", fullmatch=True))
def test_round_trip_codes_keep_their_digits(code: str) -> None:
    assert spoken_digits(readings.read_code(code)).endswith(code[2:])
