"""``voice-gateway history export``: a history search of a running gateway as CSV (UTF-8 with a BOM), the same file
the console's Export CSV button downloads, for scripts and for people who keep call logs in Excel."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

DESCRIPTION = (
    "Export a history search of a running gateway (CONSOLE_TOKEN in the environment) as CSV in UTF-8 with a BOM: "
    "the same file as the console's Export CSV button."
)
FILTERS = ("q", "caller", "agent", "channel", "since", "until")


def add_history_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    history = sub.add_parser("history", help="export ended conversations of a running gateway as CSV", description=DESCRIPTION)
    actions = history.add_subparsers(dest="history_command", required=True)
    export = actions.add_parser("export", help="a history search as CSV (CONSOLE_TOKEN in the environment)", description=DESCRIPTION)
    export.add_argument("--gateway", default="http://127.0.0.1:8000", help="the gateway's base URL")
    export.add_argument("--q", help="words in the transcript or summary")
    export.add_argument("--caller", help="part of the caller's number")
    export.add_argument("--agent", help="agent profile")
    export.add_argument("--channel", help="phone, twilio, webrtc or browser")
    export.add_argument("--since", help="from this date (YYYY-MM-DD) or ISO date-time")
    export.add_argument("--until", help="to this date, the whole day included")
    export.add_argument("--tz", type=int, default=540, help="minutes east of UTC the dates are in (default 540: Japan)")
    export.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    export.set_defaults(func=cmd_history_export)


def cmd_history_export(args: argparse.Namespace) -> int:
    from gateway.cli import _settings

    token = _settings().console_token
    if token is None or not token.get_secret_value():
        sys.stderr.write("history: set CONSOLE_TOKEN (the gateway's console token)\n")
        return 2
    params = {name: getattr(args, name) for name in FILTERS if getattr(args, name)}
    url = f"{args.gateway.rstrip('/')}/api/console/conversations.csv?{urlencode({**params, 'tz': args.tz})}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token.get_secret_value()}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        sys.stderr.write(f"history: the gateway refused the export ({exc.code}): {_detail(exc)}\n")
        return 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"history: cannot reach {args.gateway}: {getattr(exc, 'reason', exc)}\n")
        return 1
    args.out.write_bytes(data)
    rows = max(0, data.decode("utf-8-sig").count("\r\n") - 1)
    sys.stdout.write(f"{rows} conversations written to {args.out}\n")
    return 0


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        return exc.reason or "no detail"
    return str(body.get("detail") or body.get("error") or exc.reason)
