"""Agent profiles: Markdown files with YAML front matter; the body is the instructions, written as a scenario flow.

A body may be split into steps with headings ``## Step <id>: <title>``. Text outside the steps is common to all of
them; a live session runs on the common text plus its current step, and a tool result can move it to the next step
(prompt chaining), which is how flows that must be followed are kept on track. Files are re-read when they change,
so an edit takes effect for the next conversation without a restart.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from .hot_reload import WatchedFiles

logger = logging.getLogger(__name__)

PACKAGED_AGENTS = Path(__file__).parent / "agents"
_STEP_HEADING = re.compile(r"^##\s+Step\s+([A-Za-z0-9_-]+)\s*:?\s*(.*)$", re.MULTILINE)


class TurnTaking(BaseModel):
    """How the agent takes turns on the phone; tuned for Japanese callers who backchannel a lot."""

    vad_threshold: float = Field(default=0.5, ge=0, le=1)
    prefix_padding_ms: int = Field(default=300, ge=0, le=2000)
    silence_duration_ms: int = Field(default=500, ge=100, le=5000)
    barge_in_min_ms: int = Field(default=800, ge=0, le=60000)  # caller speech shorter than this never interrupts
    # barge_in: the agent pauses after pause_after_ms of the caller's voice and resumes after a backchannel;
    # turn_based: the agent is never interrupted, the caller is heard once the agent's audio has played out
    mode: Literal["barge_in", "turn_based"] = "barge_in"
    pause_after_ms: int = Field(default=250, ge=0, le=2000)  # 0: no pausing, the agent talks until interrupted
    # the caller fell silent this long: it was a backchannel (a Japanese caller's pause after 「あ、」「いいえ、」 runs to ~0.7 s)
    resume_after_silence_ms: int = Field(default=750, ge=60, le=3000)
    # the answer to the caller's turn sounds once the caller has been quiet this long since their last voice: a pause
    # inside a sentence (0.4-0.85 s on a phone line, longer than silence_duration_ms) is not the end of the turn; 0: at once
    answer_after_quiet_ms: int = Field(default=1000, ge=0, le=3000)
    idle_reprompt_ms: int = Field(default=8000, ge=0, le=60000)  # turn_based: ask again after this much silence; 0 off
    backchannels: list[str] = Field(default_factory=list)  # added to the built-in list of the profile's language


class SmsAfterCall(BaseModel):
    """An SMS sent to the other party once a call ends, only when ``when_tool`` succeeded during the call (e.g. a
    booking was made). ``text`` may name the call's variables and the tool's output fields as ``{name}``."""

    text: str = Field(min_length=1, max_length=670)
    when_tool: str


class AnsweringMachine(BaseModel):
    """What an outbound call does when a machine answers (Twilio's answering-machine detection, or on ACS the
    ``check`` below): hang up, or leave ``message`` after the beep."""

    action: Literal["hang_up", "leave_message"] = "hang_up"
    message: str = Field(default="", max_length=500)
    # ACS has no detection: "press_key" asks the callee to press a key before the agent speaks; "short_silence"
    # listens first: a short greeting then silence is a person, a long one a machine (none: no check)
    check: Literal["none", "press_key", "short_silence"] = "none"
    check_prompt: str = "お電話ありがとうございます。お話しいただける場合は、いずれかのボタンを押してください。"
    check_timeout_s: int = Field(default=8, ge=2, le=30)  # press_key: wait for a key; short_silence: for any voice
    silence_ms: int = Field(default=800, ge=200, le=3000)  # short_silence: this much quiet after a greeting: a person
    max_greeting_ms: int = Field(default=3000, ge=1000, le=10000)  # short_silence: talking on this long: a machine


class FrontMatter(BaseModel):
    name: str
    title: str = ""
    language: str = "ja-JP"
    voice: str | None = None  # Realtime voice; default OPENAI_VOICE
    tts_voice: str | None = None  # Azure Speech voice for greetings and the cascade engine
    greeting: str | None = None
    greeting_mode: Literal["play", "agent", "none"] = "play"  # play: ACS text-to-speech at once; agent: the model speaks first
    tools: list[str] = Field(default_factory=list)
    mcp_servers: list[str] = Field(default_factory=list)
    turn_taking: TurnTaking = Field(default_factory=TurnTaking)
    operator_number: str | None = None  # where transfer_to_operator sends the call (a person's phone)
    sms_after_call: SmsAfterCall | None = None
    answering_machine: AnsweringMachine = Field(default_factory=AnsweringMachine)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    name: str
    title: str
    language: str
    voice: str | None
    tts_voice: str | None
    greeting: str | None
    greeting_mode: str
    tools: tuple[str, ...]
    mcp_servers: tuple[str, ...]
    turn_taking: TurnTaking
    common: str
    steps: dict[str, str] = field(default_factory=dict)
    path: str = ""
    operator_number: str | None = None
    sms_after_call: SmsAfterCall | None = None
    answering_machine: AnsweringMachine = field(default_factory=AnsweringMachine)

    @property
    def first_step(self) -> str | None:
        return next(iter(self.steps), None)

    def instructions(self, step: str | None = None) -> str:
        """The instructions for a step (default: the first); unknown steps fall back to the common text alone."""
        step = step or self.first_step
        if step is None or step not in self.steps:
            return self.common
        return f"{self.common}\n\n# 現在のステップ (current step)\n{self.steps[step]}".strip()

    def greeting_directive(self) -> str | None:
        """How the model is told to open the conversation when the agent speaks first (``None``: it never does)."""
        if self.greeting_mode == "none":
            return None
        if self.greeting:
            return f"Greet the caller now with: {self.greeting}"
        return "Greet the caller briefly and ask how you can help."

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "language": self.language,
            "tools": list(self.tools),
            "steps": list(self.steps),
            "greeting_mode": self.greeting_mode,
        }


class ProfileError(ValueError):
    pass


def parse_profile(text: str, path: str = "") -> AgentProfile:
    if not text.startswith("---"):
        raise ProfileError(f"{path}: a profile starts with a '---' front matter block")
    try:
        _, head, body = text.split("---", 2)
    except ValueError:
        raise ProfileError(f"{path}: the front matter is not closed with '---'") from None
    try:
        meta = FrontMatter.model_validate(yaml.safe_load(head) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        raise ProfileError(f"{path}: invalid front matter: {exc}") from None
    body = body.strip()
    matches = list(_STEP_HEADING.finditer(body))
    steps: dict[str, str] = {}
    common = body
    if matches:
        common = body[: matches[0].start()].strip()
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
            steps[match.group(1)] = body[match.start() : end].strip()
    return AgentProfile(
        name=meta.name,
        title=meta.title or meta.name,
        language=meta.language,
        voice=meta.voice,
        tts_voice=meta.tts_voice,
        greeting=meta.greeting,
        greeting_mode=meta.greeting_mode,
        tools=tuple(meta.tools),
        mcp_servers=tuple(meta.mcp_servers),
        turn_taking=meta.turn_taking,
        common=common,
        steps=steps,
        path=path,
        operator_number=meta.operator_number,
        sms_after_call=meta.sms_after_call,
        answering_machine=meta.answering_machine,
    )


class ProfileLibrary:
    """The profiles of a directory, re-read when a file changes (checked by mtime at each lookup)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or PACKAGED_AGENTS
        self._files: WatchedFiles[AgentProfile] = WatchedFiles(lambda p: parse_profile(p.read_text(encoding="utf-8"), p.name))

    def _load(self, path: Path) -> AgentProfile:
        profile, fresh = self._files.load(path)
        if fresh:
            logger.info("loaded agent profile %s from %s", profile.name, path.name)
        return profile

    def all(self) -> list[AgentProfile]:
        profiles = []
        for path in sorted(self.directory.glob("*.md")):
            try:
                profiles.append(self._load(path))
            except (ProfileError, OSError) as exc:
                logger.error("skipping agent profile: %s", exc)
        return profiles

    def get(self, name: str) -> AgentProfile:
        for profile in self.all():
            if profile.name == name:
                return profile
        raise KeyError(f"no agent profile named {name!r} in {self.directory.name}/")

    def names(self) -> list[str]:
        return [p.name for p in self.all()]
