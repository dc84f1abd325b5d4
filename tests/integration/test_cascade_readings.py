"""The cascade engine hands Azure Speech SSML from the readings module: what the Speech emulator receives is the
document the deployment's readings.yaml and the rules call for; a broken readings file never stops the gateway."""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET

from tests.integration.cascade_rig import PageClient, cascade_rig, wait_until

NS = "{http://www.w3.org/2001/10/synthesis}"
GREETING = "葛飾区新宿営業所です。受付は9:00〜18:00、お電話は0120-123-456です。"
READINGS = "phone_group_separator: pause\nwords:\n  - {word: 新宿, context: 葛飾区, reading: ニイジュク}\n"


def substitutions(ssml: str) -> tuple[list[tuple[str, str]], int, str]:
    """(written, alias) of every <sub>, the number of <break>s and the voice, from a document that must parse."""
    root = ET.fromstring(ssml)
    assert root.tag == f"{NS}speak"
    voice = root.find(f"{NS}voice")
    assert voice is not None
    subs = [(el.text or "", el.attrib["alias"]) for el in voice.iter(f"{NS}sub")]
    return subs, len(list(voice.iter(f"{NS}break"))), voice.attrib["name"]


async def greet(rig) -> list[str]:
    async with PageClient.open(rig.ws_url) as page:
        await page.hello(agent="test-desk")
        await wait_until(lambda: len(rig.speech.syntheses) >= 2 and all(s.completed for s in rig.speech.syntheses), 10)
    return [s.ssml for s in rig.speech.syntheses]


async def test_each_sentence_reaches_speech_as_ssml_with_the_readings(tmp_path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "readings.yaml").write_text(READINGS, encoding="utf-8")
    async with cascade_rig(tmp_path, greeting=GREETING) as rig:
        first, second = await greet(rig)
    subs, breaks, voice = substitutions(first)
    assert subs == [("新宿", "ニイジュク")] and breaks == 0 and voice == "ja-JP-NanamiNeural"
    subs, breaks, _ = substitutions(second)
    assert subs == [
        ("9:00〜18:00", "クジカラジュウハチジマデ"), ("0120", "ゼロイチニーゼロ"), ("123", "イチニーサン"), ("456", "ヨンゴーロク"),
    ]  # fmt: skip
    assert breaks == 2  # the phone number's groups, separated by a pause as the file says
    assert rig.speech.texts_synthesized == ["葛飾区新宿営業所です。", "受付は9:00〜18:00、お電話は0120123456です。"]


async def test_a_broken_readings_file_is_reported_once_and_the_gateway_carries_on(tmp_path, caplog) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    readings_file = agents / "readings.yaml"
    readings_file.write_text("words:\n  - {word: 新宿, reading: にいじゅく}\n", encoding="utf-8")  # hiragana: invalid
    caplog.set_level(logging.INFO, logger="gateway.readings")

    def errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "gateway.readings.library" and r.levelno >= logging.ERROR]

    async with cascade_rig(tmp_path, greeting=GREETING) as rig:
        first, _ = await greet(rig)
        assert substitutions(first)[0] == []  # no dictionary in force: the voice's own reading
        reported = errors()
        assert len(reported) == 1, reported
        assert "readings.yaml" in reported[0] and "katakana" in reported[0] and "words.0.reading" in reported[0]
        rig.gw.readings.current()
        assert len(errors()) == 1  # once per broken version

        # fixed while serving: the next conversation reads with it
        readings_file.write_text(READINGS, encoding="utf-8")
        stat = readings_file.stat()
        os.utime(readings_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        before = len(rig.speech.syntheses)
        async with PageClient.open(rig.ws_url) as page:
            await page.hello(agent="test-desk")
            await wait_until(lambda: len(rig.speech.syntheses) >= before + 1, 10)
        assert substitutions(rig.speech.syntheses[before].ssml)[0] == [("新宿", "ニイジュク")]

        # broken again: the last good dictionary stays in force
        readings_file.write_text("words: [unclosed\n", encoding="utf-8")
        os.utime(readings_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000))
        assert [e.reading for e in rig.gw.readings.current().entries] == ["ニイジュク"]
        last = errors()[-1]
        assert "not valid YAML" in last and "previous 1 words stay in force" in last
