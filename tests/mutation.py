"""``make mutation``: mutmut over each core module with that module's own tests, one score each.

mutmut reads one configuration (``[tool.mutmut]`` in pyproject.toml) and runs, for every
mutant, each test of its selection that calls the mutated function. Every request passes
through the budget, the retry loop and the sender, so with one selection for all modules a
budget mutant would run the exporter's tests too. Each module is therefore run in its own
work folder under ``.cache/mutation/`` (git-ignored), with ``[tool.mutmut]`` narrowed to it
(``only_mutate``) and to the tests named for it in ``[tool.mutmut.per-module]``. Each run
starts afresh (mutmut's cache would keep a survivor's verdict after the tests changed);
``--survivors`` instead reruns only the mutants the previous run did not kill, the quick loop
while writing a test for them.

The score is killed / (all mutants - the equivalent ones): mutants that timed out count as
killed; a surviving mutant, or one no test reaches, counts against it. Equivalent mutants (no
behaviour can tell them from the original) are listed by name, with a reason each, in
tests/MUTATION.md; a listed mutant that is killed, or that no longer exists, is reported so
the list stays true.

    python tests/mutation.py [--survivors] [--max-children N] [--min 90] [module ...]

``module`` is a path or a stem (``_odata``, ``export/_state``); none means all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".cache" / "mutation"
EQUIVALENTS_FILE = ROOT / "tests" / "MUTATION.md"
MUTANT_NAME = re.compile(r"`(karbon_async\.[^`\s]+__mutmut_\d+)`")
# mutmut's exit codes of a mutant's test run, by verdict (mutmut.stats.status_by_exit_code).
DETECTED = ("killed", "timeout", "segfault", "caught by type check")
NOT_DETECTED = ("survived", "no tests", "suspicious")


def modules_and_tests() -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    per_module: dict[str, list[str]] = config["tool"]["mutmut"]["per-module"]
    return per_module


def choose(requested: list[str], known: dict[str, list[str]]) -> list[str]:
    if not requested:
        return list(known)
    chosen = []
    for name in requested:
        matches = [path for path in known if path == name or path.endswith(f"/{name}.py")]
        if len(matches) != 1:
            raise SystemExit(f"unknown module {name!r}; known: {', '.join(known)}")
        chosen.append(matches[0])
    return chosen


def work_folder(module: str, tests: list[str], fresh: bool) -> Path:
    """The module's folder: the package and tests linked in, pyproject.toml narrowed to it."""
    folder = WORK / module.removeprefix("karbon_async/").removesuffix(".py").replace("/", ".")
    if fresh:
        shutil.rmtree(folder / "mutants", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("karbon_async", "tests"):
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name, target_is_directory=True)
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    header = "[tool.mutmut]\n"
    narrowed = (
        f"{header}only_mutate = {json.dumps([module])}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
    )
    assert text.count(header) == 1, "pyproject.toml needs exactly one [tool.mutmut] table"
    target = folder / "pyproject.toml"
    new = text.replace(header, narrowed)
    if not target.exists() or target.read_text("utf-8") != new:
        target.write_text(new, "utf-8")
    return folder


def mutmut(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    return subprocess.run(command, cwd=folder, text=True, capture_output=True, check=False)


def verdicts(folder: Path) -> dict[str, str]:
    """Every mutant of the run and its verdict, killed ones included."""
    done = mutmut(folder, "results", "--all", "true")
    found = {}
    for line in done.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if "__mutmut_" in name:
            found[name] = status
    return found


def listed_equivalents() -> set[str]:
    if not EQUIVALENTS_FILE.exists():
        return set()
    return set(MUTANT_NAME.findall(EQUIVALENTS_FILE.read_text("utf-8")))


def score(module: str, results: dict[str, str], equivalents: set[str]) -> tuple[float, list[str]]:
    """(score in %, lines to print) for one module."""
    prefix = module.removesuffix(".py").replace("/", ".") + "."
    mine = {name: status for name, status in results.items() if name.startswith(prefix)}
    equivalent = {name for name in mine if name in equivalents}
    counted = {name: status for name, status in mine.items() if name not in equivalent}
    detected = sum(status in DETECTED for status in counted.values())
    missed = sorted(name for name, status in counted.items() if status in NOT_DETECTED)
    other = sorted(
        name for name, status in counted.items() if status not in DETECTED + NOT_DETECTED
    )
    total = detected + len(missed)
    value = 100.0 * detected / total if total else 0.0
    lines = [
        f"{module}: {value:.1f}% ({detected} of {total} killed; {len(mine)} mutants, "
        f"{len(equivalent)} equivalent, {len(missed)} not killed, {len(other)} not run)"
    ]
    lines += [f"    not killed: {name} ({counted[name]})" for name in missed]
    lines += [f"    not run: {name} ({counted[name]})" for name in other]
    for name in sorted(equivalent):
        if mine[name] in DETECTED:
            lines.append(f"    listed as equivalent but killed: {name}")
    stale = sorted(name for name in equivalents if name.startswith(prefix) and name not in mine)
    lines += [f"    listed as equivalent but no such mutant: {name}" for name in stale]
    return value, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*")
    parser.add_argument(
        "--survivors", action="store_true", help="rerun only the mutants not killed last time"
    )
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--min", type=float, default=90.0, help="lowest passing score (%%)")
    options = parser.parse_args()
    known = modules_and_tests()
    equivalents = listed_equivalents()
    failed = False
    report = []
    for module in choose(options.modules, known):
        folder = work_folder(module, known[module], fresh=not options.survivors)
        print(f"== {module}: {' '.join(known[module])}", flush=True)
        again = []
        if options.survivors:
            again = [name for name, status in verdicts(folder).items() if status not in DETECTED]
        started = time.monotonic()
        run = mutmut(folder, "run", "--max-children", str(options.max_children), *again)
        elapsed = time.monotonic() - started
        results = verdicts(folder)
        if run.returncode != 0 or not results:
            print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
            print(f"{module}: mutmut failed (exit {run.returncode})", flush=True)
            failed = True
            continue
        value, lines = score(module, results, equivalents)
        lines[0] += f" in {elapsed:.0f} s"
        print("\n".join(lines), flush=True)
        report.append(lines[0])
        failed |= value < options.min
    print("\n" + "\n".join(report))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
