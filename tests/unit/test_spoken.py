import datetime as dt

from gateway import spoken


def test_phone_numbers_are_read_digit_by_digit_in_groups() -> None:
    assert spoken.read_phone("09012345678") == "ゼロキュウゼロ、イチニーサンヨン、ゴーロクナナハチ"
    assert spoken.read_phone("0312345678") == "ゼロサン、イチニーサンヨン、ゴーロクナナハチ"
    assert spoken.digits_only("０９０ー１２３４ー５６７８") == "09012345678"
    assert spoken.speakable("番号は090-1234-5678です") == "番号はゼロキュウゼロ、イチニーサンヨン、ゴーロクナナハチです"


def test_dates_times_and_codes() -> None:
    assert spoken.read_date(dt.date(2026, 11, 28)) == "11月28日 土曜日"
    assert spoken.read_time(dt.time(10, 0)) == "午前10時"
    assert spoken.read_time(dt.time(18, 30)) == "午後6時30分"
    assert spoken.read_code("R-0012") == "アール、ゼロ、ゼロ、イチ、ニー"
