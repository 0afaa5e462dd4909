"""Run the test suite as two pytest processes at once: the tests that start real servers
(marked ``services`` by tests/conftest.py) and all the others.

Why: the ``services`` tests spend most of their time waiting (on Redis, PostgreSQL, Celery
workers being killed and restarted, visibility timeouts), the others mostly use the CPU. Side by
side on two cores the suite takes about as long as the longer lane instead of the sum (measured
on a 2-core machine: 297 s in one process, 183 s in two).

The ``services`` lane's output is kept and printed after the other lane's, under its own
heading, so neither interleaves with the other. The exit status is the first failing lane's
(0 when both pass). Arguments are passed to both pytest processes; each lane adds its own
``-m``, so a ``-m`` of yours is overridden (run pytest itself for that).

    python tools/pytest_two_lanes.py -W error -q
"""

from __future__ import annotations

import subprocess
import sys
import tempfile

NO_TESTS_COLLECTED = 5
"""pytest's exit status when a lane has nothing to run (a selection without services tests)."""


def main() -> int:
    args = sys.argv[1:]
    pytest = [sys.executable, "-m", "pytest", *args]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
        # No cache in this lane: two processes would write .pytest_cache at once.
        services = subprocess.Popen(
            [*pytest, "-m", "services", "-p", "no:cacheprovider"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            others = subprocess.call([*pytest, "-m", "not services"])
        finally:
            services_status = services.wait()
        log.seek(0)
        print("\n---- tests with real servers (Redis, PostgreSQL, Celery), run alongside ----")
        sys.stdout.write(log.read())
    statuses = [s for s in (others, services_status) if s not in (0, NO_TESTS_COLLECTED)]
    return statuses[0] if statuses else 0


if __name__ == "__main__":
    sys.exit(main())
