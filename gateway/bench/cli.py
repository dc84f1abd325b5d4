"""voice-gateway bench: concurrent emulated phone calls against the served gateway (through ACS, or Twilio with
--targets twilio) and against a bare relay.

Prints the figures (per-frame forwarding latency both ways, loss, CPU and memory per call, capacity, the ratio to
the bare relay, the call moments) and writes bench.json and bench.png to --out.

bench first-call: the first call after start-up against the warm ones (fresh serve per carrier, calls in turn).
bench soak: call churn against one served worker; memory per call, RSS/descriptor/task slopes, back to idle.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)


def add_bench_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bench = sub.add_parser("bench", help="measure concurrent calls, latency and cost per call", description=__doc__)
    bench.add_argument(
        "suite", nargs="?", choices=("load", "turns", "outbound", "first-call", "soak", "scale"), default="load",
        help="load: the capacity ladder (default); turns: turn-taking policies against a backchannel/interruption corpus;"
        " outbound: call set-up time of outbound calls (API request -> the callee hears the agent) on ACS and Twilio;"
        " first-call: the first call after start-up against the warm ones; soak: call churn, memory/descriptors/tasks;"
        " scale: whole calls on 1, 2 and N workers and on 2 replicas sharing Redis (pre-warm kept, extra sessions, forwarding, set-up, live console feeds, CPU)",
    )
    bench.add_argument("--calls", type=int, default=20, help="outbound: calls per carrier; first-call: calls in sequence per carrier and round; scale: calls per configuration (default 20)")
    bench.add_argument("--minutes", type=float, default=30.0, help="soak: minutes of call churn (default 30)")
    bench.add_argument("--calls-per-minute", type=float, default=12.0, help="soak: new calls per minute, ACS and Twilio in turn (default 12)")
    bench.add_argument("--call-seconds", type=float, default=20.0, help="soak: how long each call lasts (default 20)")
    bench.add_argument("--sample-seconds", type=float, default=10.0, help="soak: sampling interval (default 10)")
    bench.add_argument("--rounds", type=int, default=3, help="first-call: fresh serves per carrier; first = their median (default 3)")
    bench.add_argument("--scale-workers", default="1,2,4", help="scale: worker counts run with Redis (default 1,2,4)")
    bench.add_argument("--policies", default="barge_in,barge_in_no_pause,turn_based", help="turns: which policies")
    bench.add_argument("--carriers", default=None, help="turns: which lines (default acs,twilio,browser); outbound: which carriers (default acs,twilio)")
    bench.add_argument("--levels", default=None, help="turns: caller levels in dB (default 0,-6,-12; --quick: 0)")
    bench.add_argument("--offsets", default=None, help="turns: ms into the agent's reply the caller speaks (default 1000,2500; --quick: 1000)")
    bench.add_argument("--per-file", type=int, default=None, help="turns: level/offset combinations each corpus file plays (default all)")
    bench.add_argument("--quick", action="store_true", help="turns: a smoke run (one backchannel, one interruption, one level and offset)")
    bench.add_argument("--parallel-carriers", action="store_true", help="turns: run the carriers at once (quicker; more load on the machine)")
    bench.add_argument("--max-calls", type=int, default=500, help="top of the ladder (default 500)")
    bench.add_argument("--step", type=int, default=50, help="ladder step (default 50)")
    bench.add_argument("--start", type=int, default=50, help="first rung (default 50)")
    bench.add_argument("--duration", type=float, default=15.0, help="seconds measured at each rung (default 15)")
    bench.add_argument("--settle", type=float, default=5.0, help="seconds after a ramp before measuring (default 5)")
    bench.add_argument("--ramp", type=float, default=20.0, help="new calls per second while ramping (default 20)")
    bench.add_argument(
        "--workers",
        type=int,
        default=1,
        help="gateway (and relay) worker processes (default 1: a call's cost on one worker; more serve as deployed, "
        "sharing calls through a Redis the bench starts)",
    )
    bench.add_argument("--targets", default="gateway,relay", help="comma-separated: gateway (or acs: calls through ACS), twilio (calls through Twilio Media Streams), relay (the bare relay on aiohttp, the floor), relay-websockets (the same on websockets; the cheaper relay measured is the floor); gateway-granian, twilio-granian: the same gateway served by Granian (SERVER=granian) (default gateway,relay)")
    bench.add_argument("--moments", type=int, default=3, help="calls timed for the call moments (0: skip)")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="where bench.json and bench.png go")
    bench.add_argument(
        "--require-calls", type=int, default=0, help="exit 3 unless every target carries this many calls within target"
    )
    bench.add_argument(
        "--profile", action="store_true", help="run one gateway worker under cProfile (writes gateway.prof; slower)"
    )
    bench.add_argument("--relay-drop-every", type=int, default=0, help=argparse.SUPPRESS)  # the smoke test's fault
    bench.set_defaults(func=cmd_bench)


def options_from(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .run import CARRIER_TARGETS, RELAY_TARGETS
    from .suite import BenchOptions, ladder_steps

    named = (t.strip() for t in args.targets.split(",") if t.strip())
    # acs: the gateway's ACS line
    targets = tuple(dict.fromkeys("gateway" + t[3:] if t.startswith("acs") else t for t in named))
    unknown = set(targets) - {*CARRIER_TARGETS, *RELAY_TARGETS}
    if unknown or not targets:
        raise SystemExit(
            f"--targets: unknown {', '.join(sorted(unknown)) or 'empty list'} ({', '.join((*CARRIER_TARGETS, *RELAY_TARGETS))}; acs = gateway)"
        )
    return BenchOptions(
        out=args.out,
        steps=ladder_steps(args.start, args.step, args.max_calls),
        duration_s=args.duration,
        settle_s=args.settle,
        ramp_per_s=args.ramp,
        workers=max(1, args.workers),
        targets=targets,
        scenario_calls=args.moments,
        profile=args.profile,
        relay_drop_every=args.relay_drop_every,
    )


def missing_bench_packages() -> list[str]:
    """The bench's own packages (the ``bench`` extra), which a plain install of the gateway does not bring."""
    import importlib.util

    return [name for name in ("psutil", "matplotlib") if importlib.util.find_spec(name) is None]


def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "turns":
        return cmd_bench_turns(args)
    if args.suite == "outbound":
        return cmd_bench_outbound(args)
    if args.suite == "first-call":
        return cmd_bench_first_call(args)
    if args.suite == "soak":
        return cmd_bench_soak(args)
    if args.suite == "scale":
        return cmd_bench_scale(args)
    missing = missing_bench_packages()
    if missing:
        sys.stderr.write(
            f"voice-gateway bench needs {' and '.join(missing)}: install them with  pip install -e \".[bench]\""
            "  (from the repository)\n"
        )
        return 2
    from gateway import event_loop

    from .suite import run_bench

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway.bench").setLevel(logging.INFO)
    options = options_from(args)
    report = event_loop.run(run_bench(options))
    paths = report.write(options.out)
    sys.stdout.write(report.render(paths))
    if options.profile and "gateway" in report.targets:
        from .profile import summarize

        prof = report.targets["gateway"].profile
        if prof:
            sys.stdout.write("\n" + summarize(Path(prof)))
    short = [(kind, report.capacity(kind)) for kind in report.targets if report.capacity(kind) < args.require_calls]
    for kind, capacity in short:
        sys.stdout.write(f"FAILED: {kind} carried {capacity} calls within target; {args.require_calls} required\n")
    return 3 if short else 0


def cmd_bench_outbound(args: argparse.Namespace) -> int:
    from gateway import event_loop

    from .outbound import CARRIERS, BenchFailed, run_outbound_bench

    carriers = tuple(c.strip() for c in (args.carriers or "acs,twilio").split(",") if c.strip())
    unknown = set(carriers) - set(CARRIERS)
    if unknown or not carriers:
        raise SystemExit(f"--carriers: unknown {', '.join(sorted(unknown)) or 'empty list'} ({', '.join(CARRIERS)})")
    if args.calls < 1:
        raise SystemExit("--calls: at least 1")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway.bench").setLevel(logging.INFO)
    try:
        text, _ = event_loop.run(run_outbound_bench(args.out, args.calls, carriers))
    except BenchFailed as exc:
        sys.stderr.write(f"bench outbound: {exc}\n")
        return 1
    sys.stdout.write(text)
    return 0


def cmd_bench_scale(args: argparse.Namespace) -> int:
    from gateway import event_loop

    from .scale import run_scale_bench

    try:
        counts = [int(v) for v in args.scale_workers.split(",") if v.strip()]
    except ValueError:
        raise SystemExit("--scale-workers: comma-separated worker counts, e.g. 1,2,4") from None
    if not counts or min(counts) < 1 or args.calls < 1:
        raise SystemExit("--scale-workers and --calls: at least one worker and one call")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway.bench").setLevel(logging.INFO)
    sys.stdout.write(event_loop.run(run_scale_bench(args.out, counts, args.calls)))
    return 0


def cmd_bench_turns(args: argparse.Namespace) -> int:
    from gateway import event_loop

    from .turns import CARRIERS, POLICIES, run_turns_bench

    policies = _names(args.policies, POLICIES, "--policies")
    carriers = _names(args.carriers or ",".join(CARRIERS), CARRIERS, "--carriers")
    try:
        levels = tuple(float(v) for v in (args.levels or ("0" if args.quick else "0,-6,-12")).split(","))
        offsets = tuple(int(v) for v in (args.offsets or ("1000" if args.quick else "1000,2500")).split(","))
    except ValueError:
        raise SystemExit("--levels and --offsets: comma-separated numbers, e.g. --levels 0,-6 --offsets 1000,2500") from None
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway.bench").setLevel(logging.INFO)
    run = run_turns_bench(args.out, policies, carriers, levels, offsets, args.per_file, args.quick, args.parallel_carriers)
    table, _rows = event_loop.run(run)
    sys.stdout.write(table)
    return 0


def cmd_bench_first_call(args: argparse.Namespace) -> int:
    """Exit 3 when a first call is slower than twice the warm median (``--calls`` must exceed ``--workers``)."""
    from gateway import event_loop

    from .first_call import run_first_call

    workers = max(1, args.workers)
    if args.calls <= workers:
        raise SystemExit(f"--calls must be more than --workers ({workers}): the calls after each worker's first are the warm ones")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway.bench").setLevel(logging.INFO)
    report = event_loop.run(run_first_call(args.out.resolve() / "first-call", workers, args.calls, rounds=max(1, args.rounds)))
    sys.stdout.write(report.render())
    return 0 if report.passed() else 3


def cmd_bench_soak(args: argparse.Namespace) -> int:
    """Exit 3 when a call left a task or socket behind, or RSS, descriptors or tasks grew over the second half."""
    from gateway import event_loop

    from .soak import run_soak

    if args.minutes <= 0 or args.calls_per_minute <= 0 or args.call_seconds < 0 or args.sample_seconds <= 0:
        raise SystemExit("--minutes, --calls-per-minute and --sample-seconds must be positive (--call-seconds >= 0)")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway.bench").setLevel(logging.INFO)
    out = args.out.resolve() / "soak"
    report = event_loop.run(run_soak(out, args.minutes, args.calls_per_minute, args.call_seconds, args.sample_seconds))
    path = report.write(out)
    sys.stdout.write(report.render() + f"  samples: {path}\n")
    return 0 if report.passed() else 3


def _names(given: str, known: object, option: str) -> list[str]:
    names = [n.strip() for n in given.split(",") if n.strip()]
    unknown = set(names) - set(known)  # type: ignore[call-overload]
    if unknown or not names:
        raise SystemExit(f"{option}: unknown {', '.join(sorted(unknown)) or 'empty list'} ({', '.join(known)})")  # type: ignore[call-overload]
    return list(dict.fromkeys(names))
