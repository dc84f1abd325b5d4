"""voice-gateway bench turns: each turn-taking policy, on each carrier, against a corpus of real backchannels and
interruptions (``tests/data/turns``, see ``turns_corpus``).

Every case is a whole live conversation through ``voice-gateway serve`` and the emulators: an ACS or Twilio call
(``turns_phone``) or a browser WebSocket page (``turns_browser``). The caller answers the greeting, the agent starts
a long reply, and the caller speaks one corpus utterance over it. Cases with the same words run as one batch of
concurrent calls, together with a control call in which the caller keeps quiet: what the control's ear heard of the
reply is the whole reply, the reference a paused and resumed reply must match to the sample.

Figures per policy and carrier, all measured at the caller's ear (``turns_ear``) or at the provider:
  * false interruptions: backchannels that cancelled the reply (target 0);
  * audio lost / repeated when a paused reply resumed: samples of the control's reply skipped / played twice,
    sample by sample (target 0);
  * voice onset -> agent silent at the ear for real interruptions, p50 / p95 (target <= 300 ms p95 with
    pause-and-resume);
  * interruptions missed: the agent still audible 1.5 s after the caller began (target 0);
  * caller speech over the agent that reached the provider as a turn (target 0 for ``turn_based``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from .procs import prepare_dir
from .turns_corpus import Case, build_corpus
from .turns_ear import Observation, splice_errors

logger = logging.getLogger(__name__)
POLICIES: dict[str, dict[str, object]] = {
    "barge_in": {"mode": "barge_in", "pause_after_ms": 250},
    "barge_in_no_pause": {"mode": "barge_in", "pause_after_ms": 0},
    "turn_based": {"mode": "turn_based"},
}
CARRIERS = ("acs", "twilio", "browser")
CUT_SHORT_S = 0.3  # a reply heard this much shorter than the control's, after a stop, was cancelled (browser)


class Line(Protocol):
    carrier: str

    async def run_batch(self, cases: list[Case | None]) -> list[Observation]: ...


@dataclass(frozen=True, slots=True)
class CaseResult:
    carrier: str
    policy: str
    case: str
    kind: str
    offset_ms: float | None  # measured: voice onset after the reply's first audio at the ear
    silent_ms: float | None  # voice onset -> the agent silent at the caller's ear
    stops: int  # StopAudio / clear after the onset
    paused: bool  # the ear fell silent after the onset and the reply went on
    heard_error_samples: int | None  # reply heard minus the control's length (negative: shorter)
    lost_samples: int | None  # of the control's reply, samples this ear never heard (None: not comparable)
    repeated_samples: int | None  # samples it heard twice
    foreign_samples: int | None  # samples it heard that are not the reply's
    cancelled: bool | None
    turn: bool | None  # reached the provider as a caller turn
    answered: bool | None
    missed: bool | None  # the agent still audible 1.5 s after the onset


@contextlib.asynccontextmanager
async def open_line(carrier: str, workdir: Path, turn_taking: dict[str, object]) -> AsyncIterator[Line]:
    if carrier == "browser":
        from .turns_browser import browser_line

        async with browser_line(workdir, turn_taking) as line:
            yield line
    else:
        from .turns_phone import phone_line

        async with phone_line(carrier, workdir, turn_taking) as line:
            yield line


def batches(cases: list[Case]) -> list[list[Case]]:
    """Cases with the same words together: the provider emulators transcribe one text per batch."""
    by_text: dict[str, list[Case]] = {}
    for case in cases:
        by_text.setdefault(case.text, []).append(case)
    return list(by_text.values())


def judge(carrier: str, policy: str, observed: list[tuple[Case, Observation]], control: Observation | None) -> list[CaseResult]:
    """Each case against the control call's ear (its length: a reply cut short) and against its own reply's audio as
    the provider made it, or the control's where that is not known (its samples: a resume)."""
    length = None if control is None else control.heard_samples
    results = []
    for case, o in observed:
        error = None if length is None or o.onset is None else o.heard_samples - length
        references = [ref for ref in (o.reply, None if control is None else control.heard) if ref]
        splices = (splice_errors(o.heard, ref, o.width, o.rate) for ref in references if o.onset is not None)
        splice = next((found for found in splices if found is not None), None)  # its own reply, else the control's
        cancelled = o.cancelled
        if cancelled is None and error is not None:  # the page cannot see the engine: a stop and a reply cut short
            cancelled = o.stops > 0 and error < -CUT_SHORT_S * o.rate
        results.append(
            CaseResult(
                carrier=carrier,
                policy=policy,
                case=case.label,
                kind=case.kind,
                offset_ms=None if o.onset is None or o.reply_start is None else round((o.onset - o.reply_start) * 1000),
                silent_ms=None if o.onset is None or o.silent_at is None else round((o.silent_at - o.onset) * 1000, 1),
                stops=o.stops,
                paused=o.paused,
                heard_error_samples=error,
                lost_samples=None if splice is None else splice[0],
                repeated_samples=None if splice is None else splice[1],
                foreign_samples=None if splice is None else splice[2],
                cancelled=cancelled,
                turn=o.turn,
                answered=o.answered,
                missed=o.playing_after_1500,
            )
        )
    return results


async def run_line(carrier: str, policy: str, workdir: Path, cases: list[Case]) -> list[CaseResult]:
    """One gateway for this carrier and policy; the corpus in batches, each with its control call."""
    prepare_dir(workdir)
    observed: list[tuple[Case, Observation]] = []
    controls: list[Observation] = []
    async with open_line(carrier, workdir, POLICIES[policy]) as line:
        for batch in batches(cases):
            out = await line.run_batch([None, *batch])
            control = out[0]
            if control.reply_start is not None and control.heard:
                controls.append(control)
            observed += list(zip(batch, out[1:], strict=True))
            logger.info("%s %s: %s done", carrier, policy, batch[0].text)
    heard = {c.heard for c in controls}
    if len(heard) > 1:
        logger.warning("%s %s: the control calls heard %d different replies (%s samples)", carrier, policy, len(heard), sorted({c.heard_samples for c in controls}))
    reference = max(controls, key=lambda c: sum(1 for o in controls if o.heard == c.heard), default=None)  # the most common
    return judge(carrier, policy, observed, reference)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is one that was measured)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarize(results: list[CaseResult]) -> list[dict[str, object]]:
    rows = []
    for policy in dict.fromkeys(r.policy for r in results):
        for carrier in dict.fromkeys(r.carrier for r in results if r.policy == policy):
            ran = [r for r in results if r.policy == policy and r.carrier == carrier]
            mine = [r for r in ran if r.offset_ms is None or r.offset_ms >= 0]  # the caller spoke over the reply
            backs = [r for r in mine if r.kind == "backchannel"]
            inters = [r for r in mine if r.kind == "interruption"]
            kept = [r for r in backs if r.cancelled is False and not r.answered and r.heard_error_samples is not None]
            compared = [r for r in kept if r.lost_samples is not None]
            silent = [r.silent_ms for r in inters if r.silent_ms is not None]
            rows.append(
                {
                    "policy": policy,
                    "carrier": carrier,
                    "backchannels": len(backs),
                    "false_interruptions": sum(1 for r in backs if r.cancelled),
                    "unmeasured": sum(1 for r in mine if r.cancelled is None),
                    "resumed": sum(1 for r in kept if r.paused),
                    "lost_samples_max": max((r.lost_samples or 0 for r in compared), default=0),
                    "repeated_samples_max": max((r.repeated_samples or 0 for r in compared), default=0),
                    "foreign_samples_max": max((r.foreign_samples or 0 for r in compared), default=0),
                    "replies_not_exact": sum(1 for r in kept if r.lost_samples is None or r.lost_samples or r.repeated_samples or r.foreign_samples),
                    "interruptions": len(inters),
                    "silent_ms_p50": percentile(silent, 50),
                    "silent_ms_p95": percentile(silent, 95),
                    "silent_measured": len(silent),
                    "interruptions_missed": sum(1 for r in inters if r.missed),
                    "speech_became_turn": sum(1 for r in mine if r.turn),
                    "cases": len(mine),
                    "not_over_the_reply": len(ran) - len(mine),
                }
            )
    return rows


def _ms(value: object) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(rows: list[dict[str, object]]) -> str:
    head = (
        f"{'policy':<18} {'carrier':<8} {'false int.':>10} {'lost/rep. samples':>17} {'exact':>7} "
        f"{'silent p50/p95 ms':>17} {'missed':>7} {'turns':>7} {'excl.':>5}"
    )
    lines = [head]
    for r in rows:
        backs, inters, n = r["backchannels"], r["interruptions"], r["cases"]
        kept = int(backs) - int(r["false_interruptions"])  # type: ignore[call-overload]
        lines.append(
            f"{r['policy']:<18} {r['carrier']:<8} {r['false_interruptions']:>4}/{backs:<5} "
            f"{r['lost_samples_max']:>8}/{r['repeated_samples_max']:<8} "
            f"{kept - int(r['replies_not_exact']):>3}/{kept:<3} "  # type: ignore[call-overload]
            f"{_ms(r['silent_ms_p50']):>8}/{_ms(r['silent_ms_p95']):<8} "
            f"{r['interruptions_missed']:>3}/{inters:<3} {r['speech_became_turn']:>3}/{n:<3} {r['not_over_the_reply']:>5}"
        )
    lines.append(
        "false int.: backchannels that cancelled the reply; lost/rep.: worst reply resumed after a backchannel, samples"
        " of the control call's reply it skipped / played twice (sample by sample); exact: kept replies heard to the sample; silent: voice onset -> agent"
        " silent at the ear (interruptions); missed: agent still audible 1.5 s after the caller began; turns: overlapped"
        " speech that reached the provider as a turn; excl.: cases left out because the agent's reply reached the ear"
        " only after the caller had begun (a slow provider on a loaded machine), so nothing was spoken over it"
    )
    return "\n".join(lines) + "\n"


async def run_turns_bench(
    out: Path, policies: list[str], carriers: list[str], levels: tuple[float, ...], offsets: tuple[int, ...],
    per_file: int | None = None, quick: bool = False, parallel: bool = False,
) -> tuple[str, list[dict[str, object]]]:  # fmt: skip
    """``parallel``: the carriers at once (each its own gateway and emulators; quicker, and a heavier machine)."""
    cases = build_corpus(levels, offsets, per_file=per_file, quick=quick)

    async def carrier_run(carrier: str) -> list[CaseResult]:
        return [r for policy in policies for r in await run_line(carrier, policy, out / f"work-{carrier}-{policy}", cases)]

    if parallel:
        runs = await asyncio.gather(*(carrier_run(c) for c in carriers))
    else:
        runs = [await carrier_run(c) for c in carriers]
    results = [r for run in runs for r in run]
    rows = summarize(results)
    path = write_report(out, rows, results)
    return render(rows) + f"cases: {len(cases)} per policy and carrier (+1 control call per batch); report: {path}\n", rows


def write_report(out: Path, rows: list[dict[str, object]], results: list[CaseResult]) -> Path:
    path = prepare_dir(out) / "turns.json"
    path.write_text(json.dumps({"summary": rows, "cases": [asdict(r) for r in results]}, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
