"""``voice-gateway readings TEXT``: what the gateway would hand a speech synthesizer for TEXT.

Prints, on one line, the katakana in the reading form (十日 → トオカ); ``--ssml`` the SSML document instead;
``--digits`` only the digits a caller's words stand for (ぜろきゅうぜろのいちにーさんよん → 0901234). The
deployment's readings.yaml applies (READINGS_FILE, or beside AGENTS_DIR).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import NO_DICTIONARY, katakana, spoken_digits, ssml
from .dictionary import ReadingsDictionary, ReadingsFileError, load_readings
from .library import readings_path

HELP = """\
Show what the gateway hands a speech synthesizer for TEXT: one line of katakana in the reading form (十日 → トオカ),
or with --ssml the SSML document sent to Azure Speech. With --digits, the digits TEXT stands for as a caller said it
(ぜろきゅうぜろのいちにーさんよん → 0901234). The deployment's readings.yaml applies (READINGS_FILE, or beside
AGENTS_DIR).
"""

def add_readings_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "readings",
        help="show how a text would be read aloud (katakana, SSML or digits)",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("text", help="the text, e.g. '4/1 9:00〜10:00 090-1100-1234'")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--ssml", action="store_true", help="print the SSML sent to Azure Speech instead of katakana")
    form.add_argument("--digits", action="store_true", help="print only the digits the text stands for, as a caller said it")
    parser.add_argument("--context", default="", help="what is known about the call, e.g. the customer's address")
    parser.add_argument("--voice", default=None, help="voice for --ssml (default GREETING_VOICE)")
    parser.set_defaults(func=cmd_readings)


def _dictionary(path: Path) -> ReadingsDictionary:
    """The file as it is now; a broken one is one line on stderr and the text is read without it."""
    try:
        return load_readings(path)
    except FileNotFoundError:
        return NO_DICTIONARY
    except (ReadingsFileError, OSError) as exc:
        sys.stderr.write(f"readings file not used: {exc} (edit {path.name} and save)\n")
        return NO_DICTIONARY


def cmd_readings(args: argparse.Namespace) -> int:
    if args.digits:
        sys.stdout.write(spoken_digits(args.text) + "\n")
        return 0
    from ..cli import _settings

    text = " ".join(args.text.split())  # one line in, one line out
    settings = _settings()
    dictionary = _dictionary(readings_path(settings.agents_dir, settings.readings_file))
    if args.ssml:
        sys.stdout.write(ssml(text, args.voice or settings.greeting_voice, "ja-JP", dictionary, args.context) + "\n")
    else:
        sys.stdout.write(katakana(text, dictionary, args.context) + "\n")
    return 0
