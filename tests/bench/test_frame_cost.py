"""``python -m gateway.bench.frame_cost`` runs both sides of each lever to the end (not timed: figures only exist)."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

from gateway.bench.frame_cost import main


def test_frame_cost_prints_both_sides_of_each_lever() -> None:
    printed = io.StringIO()
    with redirect_stdout(printed):
        main(["--frames", "200", "--client-frames", "50", "--rounds", "1"])
    figures = [float(v) for v in re.findall(r"([0-9.]+) µs", printed.getvalue())]
    assert len(figures) == 9 and all(f > 0 for f in figures), printed.getvalue()  # four levers, and a mark's difference
    assert "gateway.media_socket" in printed.getvalue() and "from the μ-law codes" in printed.getvalue()
    assert "with its mark and echo" in printed.getvalue()
    assert re.search(r"websockets \(openai SDK\) [0-9.]+ µs CPU, aiohttp [0-9.]+ µs", printed.getvalue())
    assert len(re.findall(r"[0-9.]+ (?:against|ms CPU per call-second)", printed.getvalue())) == 2
