import os
import time

import pytest
import yaml

from gateway.config import Settings
from gateway.profiles import PACKAGED_AGENTS, ProfileError, ProfileLibrary, parse_profile
from gateway.services import build_registry

PROFILE = """---
name: demo
language: ja-JP
tools: [get_current_time]
turn_taking:
  barge_in_min_ms: 500
---
# 役割
共通の指示。

## Step first: 最初
最初のステップ。

## Step second: 次
次のステップ。
"""


def test_shipped_profiles_parse_with_their_tools() -> None:
    lib = ProfileLibrary(PACKAGED_AGENTS)
    profiles = {p.name: p for p in lib.all()}
    assert set(profiles) == {"support-desk", "rent-a-car", "vehicle-dispatch", "meeting-booking"}
    assert profiles["support-desk"].tools[:2] == ("get_current_time", "get_customer_info")
    inbound = [profiles[name] for name in ("support-desk", "rent-a-car", "vehicle-dispatch")]
    assert all({"continue_conversation", "handoff_code"} <= set(p.tools) for p in inbound)
    assert {"list_locations", "get_availability", "create_reservation"} <= set(profiles["rent-a-car"].tools)
    assert list(profiles["rent-a-car"].steps) == ["gather", "confirm", "close"]
    assert profiles["vehicle-dispatch"].language == "ja-JP"


def test_the_shipped_outbound_profile_books_in_steps_and_texts_only_after_a_booking() -> None:
    profile = ProfileLibrary(PACKAGED_AGENTS).get("meeting-booking")
    registry = build_registry(Settings(_env_file=None))
    assert set(profile.tools) <= set(registry.names())
    assert {"find_free_slots", "book_meeting", "record_declined", "transfer_to_operator"} <= set(profile.tools)  # booked and declined are campaign outcomes
    assert list(profile.steps) == ["open", "propose", "close"]  # the tools' next_step values move it along
    assert profile.turn_taking.mode == "turn_based" and profile.operator_number
    assert profile.sms_after_call is not None and profile.sms_after_call.when_tool == "book_meeting"
    assert "{meeting_written}" in profile.sms_after_call.text and "{name}" in profile.sms_after_call.text
    assert profile.answering_machine.check == "short_silence" and profile.answering_machine.action == "leave_message"


def test_shipped_profiles_choose_their_turn_taking_on_purpose() -> None:
    """Issue 13: the open-ended support desk pauses on a backchannel and resumes; the scripted dispatch call (the
    outbound one) is strictly turn-based, as the field report found best. Written in each file, not left to the
    default, so a change of default cannot silently switch a shipped agent's policy."""
    lib = ProfileLibrary(PACKAGED_AGENTS)
    profiles = {p.name: p for p in lib.all()}
    support, dispatch = profiles["support-desk"].turn_taking, profiles["vehicle-dispatch"].turn_taking
    assert support.mode == "barge_in" and support.pause_after_ms > 0 and support.barge_in_min_ms > support.pause_after_ms
    assert dispatch.mode == "turn_based"
    for name, mode in (("support-desk", "barge_in"), ("vehicle-dispatch", "turn_based")):
        front = yaml.safe_load((PACKAGED_AGENTS / f"{name}.md").read_text(encoding="utf-8").split("---")[1])
        assert front["turn_taking"]["mode"] == mode, name
    assert "pause_after_ms" in yaml.safe_load((PACKAGED_AGENTS / "support-desk.md").read_text(encoding="utf-8").split("---")[1])["turn_taking"]


def test_steps_split_the_body_and_keep_the_common_part() -> None:
    profile = parse_profile(PROFILE, "demo.md")
    assert profile.first_step == "first"
    assert profile.turn_taking.barge_in_min_ms == 500
    first, second = profile.instructions(), profile.instructions("second")
    assert "共通の指示" in first and "最初のステップ" in first and "次のステップ" not in first
    assert "共通の指示" in second and "次のステップ" in second and "最初のステップ" not in second


@pytest.mark.parametrize(
    "text",
    ["no front matter", "---\nname: x\n", "---\n: [\n---\nbody", "---\nlanguage: ja\n---\nbody", "---\nname: x\nturn_taking: {barge_in_min_ms: -1}\n---\n"],
)
def test_invalid_profiles_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ProfileError):
        parse_profile(text, "bad.md")


def test_an_edited_file_takes_effect_without_restart(tmp_path) -> None:
    path = tmp_path / "demo.md"
    path.write_text(PROFILE, encoding="utf-8")
    lib = ProfileLibrary(tmp_path)
    assert "共通の指示" in lib.get("demo").instructions()
    path.write_text(PROFILE.replace("共通の指示", "新しい指示"), encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))  # mtime granularity must not hide the edit
    assert "新しい指示" in lib.get("demo").instructions()


def test_a_broken_file_does_not_hide_the_others(tmp_path) -> None:
    (tmp_path / "good.md").write_text(PROFILE, encoding="utf-8")
    (tmp_path / "broken.md").write_text("---\nname: [\n", encoding="utf-8")
    assert ProfileLibrary(tmp_path).names() == ["demo"]
