"""``voice-gateway campaign run list.csv``: hand a call list to a running gateway's campaigns API (API_TOKEN), which
dials it from its store; print each row's outcome as it ends, and write the results as CSV with a BOM."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from .call_list import CallListError, parse_call_list
from .export import to_csv
from .follow import CampaignFollower, CampaignRefused
from .hours import CallingHours

DESCRIPTION = (
    "Dial a CSV call list through a running gateway (API_TOKEN in the environment): the gateway keeps the campaign "
    "in its store (it resumes after a restart, and shows on the console), at most --concurrency calls at once, within "
    "calling hours, busy and no answer retried; each row's outcome is printed as it ends and written to a CSV in "
    "UTF-8 with a BOM."
)


def add_campaign_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    campaign = sub.add_parser("campaign", help="dial a CSV call list through a running gateway", description=DESCRIPTION)
    actions = campaign.add_subparsers(dest="campaign_command", required=True)
    run = actions.add_parser("run", help="dial every row of a call list", description=DESCRIPTION)
    run.add_argument("call_list", type=Path, help="CSV: a phone column (phone / 電話番号), name, other columns as variables")
    run.add_argument("--gateway", default="http://127.0.0.1:8000", help="the gateway's base URL")
    run.add_argument("--agent", default=None, help="agent profile (default: the gateway's AGENT)")
    run.add_argument("--carrier", choices=("acs", "twilio"), default=None, help="carrier (optional when one is configured)")
    run.add_argument("--concurrency", type=int, default=2, help="calls at once (default 2)")
    run.add_argument("--retries", type=int, default=2, help="retries of a busy or unanswered number (default 2)")
    run.add_argument("--retry-delay", type=float, default=300.0, help="seconds before a retry (default 300)")
    run.add_argument("--hours", default="09:00-20:00", help="calling hours, HH:MM-HH:MM (default 09:00-20:00)")
    run.add_argument("--days", default="mon-fri", help="calling days: mon-fri, mon,wed,sat or all (default mon-fri)")
    run.add_argument("--tz", default="Asia/Tokyo", help="time zone of the calling hours (default Asia/Tokyo)")
    run.add_argument("--any-time", action="store_true", help="ignore calling hours (only for lists cleared for now)")
    run.add_argument("--out", type=Path, default=None, help="results CSV (UTF-8 with BOM; default: <list>-results.csv), rewritten as each row ends")
    run.add_argument("--resume", action="store_true", help="skip the rows --out already has a result for (a campaign stopped half-way)")
    run.set_defaults(func=cmd_campaign_run)


def read_results(path: Path) -> dict[int, dict[str, Any]]:
    """The rows an earlier run of this campaign finished (bad rows are re-checked, not taken from it)."""
    if not path.is_file():
        return {}
    rows = csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig")))
    return {int(r["line"]): dict(r) for r in rows if r.get("outcome") and r["outcome"] != "invalid"}


def cmd_campaign_run(args: argparse.Namespace) -> int:
    from gateway.cli import _settings

    def say(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    token = _settings().api_token
    if token is None or not token.get_secret_value():
        sys.stderr.write("campaign: set API_TOKEN (the gateway's calls API token)\n")
        return 2
    try:
        if not args.any_time:
            CallingHours.parse(args.hours, args.days, args.tz)
        text = args.call_list.read_text(encoding="utf-8")
        call_list = parse_call_list(text)
    except (OSError, UnicodeDecodeError, ValueError, CallListError) as exc:
        sys.stderr.write(f"campaign: {exc}\n")
        return 2
    for bad in call_list.bad_rows:
        say(f"line {bad.line} {bad.raw!r}: not dialled: {bad.reason}")
    if args.concurrency < 1 or args.retries < 0:
        sys.stderr.write("campaign: --concurrency is at least 1 and --retries at least 0\n")
        return 2
    out = args.out or args.call_list.with_name(f"{args.call_list.stem}-results.csv")
    done = read_results(out) if args.resume else {}
    body = {
        "call_list": text, "name": args.call_list.name, "agent": args.agent, "carrier": args.carrier,
        "concurrency": args.concurrency, "retries": args.retries, "retry_delay_s": args.retry_delay,
        "hours": None if args.any_time else args.hours, "days": args.days, "tz": args.tz, "skip_lines": sorted(done),
    }
    follower = CampaignFollower(args.gateway, token.get_secret_value(), say)
    say(f"dialling {len(call_list.prospects) - len(done)} numbers, {args.concurrency} at once" + (f" ({len(done)} done before)" if done else ""))
    try:
        rows = asyncio.run(follower.run(body, lambda rows: out.write_bytes(to_csv(_merged(rows, done)))))
    except CampaignRefused as exc:
        sys.stderr.write(f"campaign: {exc}\n")
        return 2
    out.write_bytes(to_csv(_merged(rows, done)))
    counts = Counter(r["outcome"] for r in rows if r["line"] not in done and r["status"] == "done")
    say("done: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"; results in {out}")
    return 0


def _merged(rows: list[dict[str, Any]], done: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The gateway's rows, with the rows an earlier run finished (the file is whole after every row)."""
    merged = {int(r["line"]): r for r in rows}
    merged.update(done)
    return sorted(merged.values(), key=lambda r: int(r["line"]))
