"""A throwaway PostgreSQL cluster for tests: a fresh data directory, a random loopback port.

It uses Debian's server binaries (``apt-get install postgresql`` puts ``initdb`` and ``pg_ctl``
in ``/usr/lib/postgresql/<version>/bin``) or whichever ``initdb`` is on the PATH. PostgreSQL
refuses to run as root, so as root the cluster is created and run as the ``postgres`` user
(which the Debian package adds) through ``runuser``. Without a server or asyncpg the tests that
need it skip with one line of reason, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(reason)


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``; the newest Debian version first."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).parent

    def version(initdb: str) -> int:
        name = Path(initdb).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    return Path(found[-1]).parent if found else None


def require_postgres() -> Path:
    """The server's bin directory, or skip (fail under CI) when the server or asyncpg is missing."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _missing("PostgreSQL server not installed (apt-get install postgresql)")
    assert bin_dir is not None
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root and there is no 'postgres' user to run the server as")
        if shutil.which("runuser") is None:
            _missing("running as root and runuser is missing")
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        _missing("asyncpg not installed (pip install 'karbon-async[postgres]')")
    return bin_dir


class PostgresServer:
    """One PostgreSQL cluster with trust authentication on 127.0.0.1 (user ``postgres``)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._dir = tempfile.TemporaryDirectory(prefix="karbon-pg-")
        self.data = Path(self._dir.name) / "data"
        self._as_root = os.geteuid() == 0

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        result = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> None:
        if self._as_root:
            shutil.chown(self._dir.name, "postgres", "postgres")
        if not self.data.exists():
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            )
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self._dir.name} -F "
            "-c max_connections=200 -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(Path(self._dir.name) / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """``mode``: ``fast`` is an operator's restart (sessions are told "terminating
        connection due to administrator command"), ``immediate`` a crash."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._dir.cleanup()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """One cluster for a test module (import this fixture into the module); tests use their
    own schemas or databases to stay apart."""
    server = PostgresServer(require_postgres())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def schema(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """A fresh schema per test, dropped after it: tests share one cluster (and account names)
    without seeing each other's tables."""
    asyncpg = pytest.importorskip("asyncpg")
    from karbon_async.export._postgres import quote_ident

    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    connection = await asyncpg.connect(postgres_server.dsn)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
    finally:
        await connection.close()
