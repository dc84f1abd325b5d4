"""Where a gateway worker's time goes, from the cProfile file ``voice-gateway bench --profile`` writes.

Functions are grouped by where they live (our packages, each library, asyncio, the kernel calls), because on the
hot path the question is first *whose* cost it is, then which function.
"""

from __future__ import annotations

import collections
import pstats
from pathlib import Path

OURS = ("gateway/", "channels/")


def owner(filename: str, function: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in OURS:
        if f"/{ours}" in filename:
            return ours + filename.split(f"/{ours}", 1)[1]
    if "/lib/python3" in filename:
        return "stdlib " + filename.rsplit("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    if filename == "~":
        name = function.strip("<>").removeprefix("method ").removeprefix("built-in method ")
        return "syscall " + name if name.split(" ")[0].strip("'") in {"send", "recv", "poll", "sendall"} else "builtin"
    return filename


def summarize(path: Path, top: int = 25) -> str:
    stats = pstats.Stats(str(path))
    by_owner: collections.Counter[str] = collections.Counter()
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        by_owner[owner(filename, function)] += own
        rows.append((own, calls, cumulative, f"{filename.rsplit('/', 2)[-1]}:{line}({function})"))
    total = sum(by_owner.values()) or 1.0
    lines = [f"cProfile of one gateway worker ({total:.1f} s of samples), own time by owner:"]
    for name, seconds in by_owner.most_common(top):
        lines.append(f"  {seconds:7.2f} s {100 * seconds / total:5.1f} %  {name}")
    lines.append("top functions by own time:")
    for own, calls, cumulative, where in sorted(rows, reverse=True)[:top]:
        lines.append(f"  {own:7.2f} s {calls:>9} calls  cum {cumulative:7.2f} s  {where}")
    return "\n".join(lines) + "\n"
