"""``voice-gateway readings``: one line of katakana, the SSML, or the digits; the deployment's file applies."""

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import readings
from gateway.cli import main


def run(capsys, *argv: str) -> str:
    assert main(["readings", *argv]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return out.strip()


def test_katakana_ssml_and_digits(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("READINGS_FILE", raising=False)
    monkeypatch.setenv("AGENTS_DIR", str(tmp_path))
    assert run(capsys, "十日") == "トオカ"
    assert run(capsys, "6月10日 9:00〜10:00") == "ロクガツトオカ クジカラジュウジマデ".replace(" ", "")
    assert run(capsys, "--digits", "ぜろきゅうぜろのいちにーさんよん") == "0901234"
    assert run(capsys, "--digits", "千二百三十四") == "1234"
    (tmp_path / "readings.yaml").write_text("words:\n  - {word: 新宿, context: 葛飾区, reading: ニイジュク}\n", encoding="utf-8")
    assert run(capsys, "葛飾区新宿") == "カツシカクニイジュク"
    doc = run(capsys, "--ssml", "--voice", "ja-JP-KeitaNeural", "葛飾区新宿")
    assert '<voice name="ja-JP-KeitaNeural">葛飾区<sub alias="ニイジュク">新宿</sub></voice>' in doc
    ET.fromstring(doc)


def test_a_broken_readings_file_is_one_clear_line_and_the_text_is_still_read(capsys, monkeypatch, tmp_path) -> None:
    broken = tmp_path / "mine.yaml"
    broken.write_text("words:\n  - {word: 新宿}\n", encoding="utf-8")
    monkeypatch.setenv("READINGS_FILE", str(broken))
    assert main(["readings", "葛飾区新宿"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "カツシカクシンジュク"
    assert captured.err.count("\n") == 1 and "mine.yaml" in captured.err and "words.0.reading" in captured.err
    assert "Traceback" not in captured.err


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("&<>\"'09/:-〜円月日時R〒 新宿区三田ーあア\u3000０１")), max_size=40))
def test_any_text_gives_a_valid_document_that_keeps_what_was_written(text: str) -> None:
    doc = readings.ssml(text, "ja-JP-NanamiNeural")
    voice = ET.fromstring(doc).find("{http://www.w3.org/2001/10/synthesis}voice")
    assert voice is not None
    written = "".join(p.text for p in readings.pieces(text) if not p.pause)
    assert "".join(voice.itertext()) == written
    for sub in voice.iter("{http://www.w3.org/2001/10/synthesis}sub"):
        assert sub.attrib["alias"] and all("ァ" <= ch <= "ヶ" or ch in "ー 、" for ch in sub.attrib["alias"])


def test_doctor_says_which_readings_are_in_force(tmp_path) -> None:
    from gateway.config import Settings
    from gateway.doctor import run_checks

    def check(**env: str):
        return next(c for c in run_checks(Settings(_env_file=None, **env)) if c.name == "Readings dictionary")

    shipped = check()
    assert shipped.ok and "readings.yaml: 7 words" in shipped.detail and "pause" in shipped.detail
    assert not check(AGENTS_DIR=str(tmp_path)).ok  # no file: optional, says where one would go
    broken = tmp_path / "r.yaml"
    broken.write_text("phone_group_separator: dash\n", encoding="utf-8")
    bad = check(READINGS_FILE=str(broken))
    assert not bad.ok and bad.optional and "r.yaml" in bad.detail and "phone_group_separator" in bad.detail
