from __future__ import annotations

import bisect
import contextlib
import os
import time
from collections.abc import Iterator, Sequence

import pytest

SERVICE_FIXTURES = frozenset({"redis_server", "postgres_server"})
"""Fixtures that start a real server: the tests using them are marked ``services``, and
``make test`` runs those beside the others, in a second process (tools/pytest_two_lanes.py)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


def max_in_window(arrivals: Sequence[float], per: float) -> int:
    """The most arrivals in any half-open window (t - per, t]."""
    times = sorted(arrivals)
    best = 0
    for index, end in enumerate(times):
        start = bisect.bisect_right(times, end - per)
        best = max(best, index - start + 1)
    return best


# A zone with a half-hour offset: a conversion to the machine's zone instead of UTC, or a naive
# time taken as local, shows there even when the machine itself runs on UTC (as CI does).
NON_UTC_ZONE = "<+0530>-05:30"  # POSIX spelling: needs no tz database


@contextlib.contextmanager
def machine_zone(zone: str) -> Iterator[None]:
    """The process's local time zone (``TZ``) set to ``zone`` for the block."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture(params=["UTC", NON_UTC_ZONE], ids=["tz-utc", "tz-plus0530"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs the test once with the machine's zone at UTC and once at UTC+05:30."""
    with machine_zone(request.param):
        yield request.param
