"""What a newcomer reads first: `voice-gateway --help`, each command's help, and bench's missing packages."""

from __future__ import annotations

import argparse
import sys

from gateway.cli import build_parser, main


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_top_level_help_is_plain_text_and_lists_every_command() -> None:
    text = build_parser().format_help()
    assert "``" not in text and "`" not in text
    for command in ("serve", "demo", "doctor", "simulate-call", "bench"):
        assert f"  {command} " in text.split("positional arguments")[0], command


def test_every_option_of_every_command_has_help_text() -> None:
    for name, sub in _subparsers(build_parser()).items():
        assert "``" not in sub.format_help(), name
        for action in sub._actions:
            if action.option_strings and action.help != argparse.SUPPRESS:
                assert action.help, f"{name} {action.option_strings[0]} has no help text"


def test_demo_defaults_to_another_port_than_serve() -> None:
    subs = _subparsers(build_parser())
    assert subs["demo"].parse_args([]).port not in (None, 8000)
    assert subs["simulate-call"].parse_args([]).wav.is_file()  # --wav is optional: a shipped sample caller


def test_bench_without_its_packages_says_what_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # as after a plain `pip install -e .`
    for name in [m for m in sys.modules if m.startswith("gateway.bench.") and m != "gateway.bench.cli"]:
        monkeypatch.delitem(sys.modules, name)
    code = main(["bench", "--max-calls", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "psutil" in err and 'pip install -e ".[bench]"' in err

