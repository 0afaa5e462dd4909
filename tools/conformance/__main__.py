"""``python -m conformance --spec KarbonAPI.json --prism .cache/prism/node_modules/.bin/prism``

Prints one table per mode (static, then dynamic per seed) and the totals; exits 1 on any
failure that ``limits.KNOWN_LIMITS`` does not explain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import textwrap
from pathlib import Path

import attrs

from .driver import Outcome, drive
from .limits import KNOWN_LIMITS, Limit, limit_for, orderby_typos
from .prism import prism_mock
from .spec import Spec

DEFAULT_SEEDS = (1, 2, 3, 4, 5)


def _mark(flag: bool, limit: str | None = None, excused: str | None = None) -> str:
    if limit is not None and not flag:
        return "limit"
    if excused is not None and not flag:
        return excused.split(":", 1)[0]  # "spec" or "sdk"
    return "yes" if flag else "NO"


def render(mode: str, outcomes: list[Outcome]) -> str:
    width = max(len(o.label) for o in outcomes)
    lines = [
        f"== {mode} ==",
        f"{'operationId':<{width}}  request  decoded  violation / failure",
    ]
    for o in outcomes:
        detail = "; ".join(o.problems) if o.problems else ""
        if o.limit is not None:
            detail = f"limit: {o.limit}" + (f" ({detail})" if detail else "")
        elif o.excused is not None:
            detail = f"{o.excused} ({detail})"
        request, decoded = _mark(o.request_valid), _mark(o.decoded, o.limit, o.excused)
        row = f"{o.label:<{width}}  {request:<7}  {decoded:<7}"
        wrapped = textwrap.wrap(detail, 140) or [""]
        lines.append(f"{row}  {wrapped[0]}".rstrip())
        lines += [f"{'':<{width + 20}}{more}" for more in wrapped[1:]]
    return "\n".join(lines)


def totals(outcomes: list[Outcome]) -> str:
    n = len(outcomes)
    valid = sum(o.request_valid for o in outcomes)
    decoded = sum(o.decoded for o in outcomes)
    limits = sum(o.limit is not None for o in outcomes)
    excused = sum(o.excused is not None for o in outcomes)
    text = f"{valid}/{n} requests valid, {decoded}/{n} responses decoded"
    text += f" ({limits} known Prism limit(s))" if limits else ""
    return text + (f" ({excused} rightly refused, see limits.py)" if excused else "")


def judge(mode: str, outcomes: list[Outcome], used: set[Limit]) -> list[Outcome]:
    """Attach known limits (noting in ``used`` the rows that applied); return the failures
    they do not explain (neither a limit nor a body the SDK rightly refused, see
    ``driver.refused_rightly``). These excuse the response only: every request must be valid."""
    failures = []
    for outcome in outcomes:
        row = None if outcome.decoded else limit_for(outcome.operation_id, mode, outcome.problems)
        outcome.limit = None if row is None else row.reason
        if row is not None:
            used.add(row)
        explained = row is not None or outcome.excused is not None
        if not outcome.request_valid or (not outcome.decoded and not explained):
            failures.append(outcome)
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--prism", type=Path, required=True, help="the prism executable")
    parser.add_argument("--seeds", type=int, nargs="*", default=list(DEFAULT_SEEDS))
    parser.add_argument("--no-static", action="store_true")
    parser.add_argument("--report", type=Path, help="also write every outcome here as JSON")
    args = parser.parse_args(argv)
    spec = Spec.load(args.spec)

    modes: list[tuple[str, str, int | None]] = []
    if not args.no_static:
        modes.append(("static", "static", None))
    modes += [(f"dynamic --seed {seed}", "dynamic", seed) for seed in args.seeds]

    summary: list[str] = []
    excused: set[str] = set()
    report: dict[str, list[dict[str, object]]] = {}
    used: set[Limit] = set()
    unexplained = 0
    for index, (title, kind, seed) in enumerate(modes):
        # Query options are checked once: Prism validates a request the same way in every mode.
        with prism_mock(args.prism, args.spec, dynamic=kind == "dynamic", seed=seed) as base_url:
            outcomes, options = asyncio.run(drive(base_url, spec, with_options=index == 0))
        failures = judge(kind, outcomes, used)
        option_failures = judge(kind, options, used)
        report[title] = [attrs.asdict(o) for o in (*outcomes, *options)]
        unexplained += len(failures) + len(option_failures)
        print(render(title, outcomes))
        if options:
            print(render(f"{title}: query options the spec enumerates", options))
        excused.update(
            f"{o.label} ({kind}): {o.excused}" for o in (*outcomes, *options) if o.excused
        )
        notes = sorted({f"{o.label}: {n}" for o in (*outcomes, *options) for n in o.notes})
        for note in notes:
            print(f"note (spec/Prism, not the SDK): {note}")
        line = f"{title}: {totals(outcomes)}; {len(failures)} failure(s)"
        if options:
            line += f"; query options: {totals(options)}; {len(option_failures)} failure(s)"
        print(line + "\n", flush=True)
        summary.append(line)

    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print("== summary ==")
    print("\n".join(summary))
    for line in sorted(excused):
        print(f"refused rightly {line}")
    if not args.no_static:
        for operation_id in spec.operations:
            for value in orderby_typos(spec, operation_id):
                print(
                    f"spec defect {operation_id}: $orderby {value!r} names no field (a lost "
                    "space); the SDK refuses it, so it is not sent"
                )
    kinds = {kind for _, kind, _ in modes}
    for row in KNOWN_LIMITS:
        if row in used:
            print(f"limit {row.operation_id} ({row.mode}): {row.reason}")
        elif row.mode == "*" or row.mode in kinds:
            print(f"limit row unused in this run (stale?): {row.operation_id} ({row.mode})")
    if unexplained:
        print(f"FAIL: {unexplained} failure(s) not explained by a known limit")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
