"""The README's first section is what a newcomer runs: every file it names exists, every command it names does."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_file_the_readme_names_exists() -> None:
    """Files the README names exist (in the repository, under gateway/ or as an agent profile); outputs made at
    run time (data/, bench-results/) are not files to look for."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    prose = re.sub(r"```.*?```", "", README, flags=re.S)
    words = [word for span in fenced + re.findall(r"`([^`]+)`", prose) for word in span.split()]
    named = {w for w in words if re.fullmatch(r"[\w./-]+\.(?:py|wav|md|sh|toml|json|js|css|html)", w)}
    outputs = ("data/", "bench-results/", "heard.wav", "gateway.prof")
    missing = [
        name
        for name in sorted(named)
        if not name.startswith(outputs) and not any((base / name).exists() for base in (ROOT, ROOT / "gateway", ROOT / "gateway" / "agents"))
    ]
    assert named and not missing, missing


def test_the_first_section_runs_only_commands_that_exist() -> None:
    first = README.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    assert "./run.sh serve" in first.split("```")[1]  # the first command block is the one command
    commands = set(re.findall(r"voice-gateway ([a-z-]+)", first))
    parser_commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert commands and commands <= parser_commands, commands - parser_commands
    assert (ROOT / "run.sh").stat().st_mode & 0o111
