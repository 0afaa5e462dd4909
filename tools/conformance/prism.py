"""Run ``prism mock`` on a free loopback port for the length of a ``with`` block."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HOST = "127.0.0.1"
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


@contextlib.contextmanager
def prism_mock(
    prism: Path, spec: Path, *, dynamic: bool = False, seed: int | None = None
) -> Iterator[str]:
    """Start Prism on the spec and yield its base URL; stop it (its whole process group)
    afterwards. Its log goes to a temporary file, shown if it fails to start."""
    port = free_port()
    command = [str(prism), "mock", "--host", HOST, "--port", str(port), "--errors=false"]
    if dynamic:
        command.append("--dynamic")
    if seed is not None:
        command += ["--seed", str(seed)]
    command.append(str(spec))
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # a group of its own, so node's children stop with it
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _listening(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-4000:]
                    raise RuntimeError(f"prism did not start ({' '.join(command)}):\n{tail}")
                time.sleep(0.1)
            yield f"http://{HOST}:{port}"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
