"""Celery workers of the fleet as real subprocesses (``karbon-async fleet worker``, ``karbon-async
mirror worker``), each in its own process group so that a whole worker can be killed."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path


def start_worker(args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m karbon_async ARGS``, its output (both streams) to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "karbon_async", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the whole worker can be killed
        )


def stop_workers(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Ask each to stop (warm shutdown), then kill those that take over 15 s."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
