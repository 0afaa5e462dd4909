"""A throwaway ``redis-server`` for tests: random loopback port, no persistence.

Without ``redis-server`` on the PATH the tests that need it skip with one line of reason,
except under CI (``CI=true``), where a missing server fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from karbon_async import RateLimit
    from karbon_async._redis_budget import RedisBudget


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_redis_server() -> str:
    """The path of redis-server, or skip (fail under CI) when it is missing."""
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is not installed, and CI=true requires it")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    try:
        import redis  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-py is not installed, and CI=true requires it")
        pytest.skip("redis-py not installed (pip install 'karbon-async[redis]')")
    return path


class RedisServer:
    """One redis-server process; ``stop()`` and ``start()`` again on the same port (the data
    is lost, as with a real restart without persistence)."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="karbon-redis-")
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--logfile",
                str(Path(self._dir.name) / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server for one test (import this fixture into the test module)."""
    server = RedisServer(require_redis_server())
    server.start()
    try:
        yield server
    finally:
        server.close()


BudgetFactory = Callable[..., "RedisBudget"]


@pytest.fixture
async def budgets(redis_server: RedisServer) -> AsyncIterator[BudgetFactory]:
    """``make(limit, **options)``: RedisBudgets on ``redis_server`` (access key ``key-1`` unless
    given), closed when the test ends."""
    from karbon_async._redis_budget import RedisBudget

    made: list[RedisBudget] = []

    def make(limit: RateLimit, **options: Any) -> RedisBudget:
        options.setdefault("access_key", "key-1")
        budget = RedisBudget(limit, url=redis_server.url, **options)
        made.append(budget)
        return budget

    yield make
    for budget in made:
        await budget.aclose()
