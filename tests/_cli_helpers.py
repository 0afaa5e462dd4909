"""Running ``karbon-async`` against FakeKarbon: accounts files and subprocesses."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import karbon_async as ka
from karbon_async.testing import FakeKarbon

ENV_KEYS = ("KARBON_BEARER_TOKEN", "KARBON_ACCESS_KEY", "KARBON_BASE_URL")


def accounts_file(fake: FakeKarbon, path: Path, limit: ka.RateLimit) -> Path:
    lines = []
    for account in fake.accounts:
        lines += [
            f'["firm {account.index}"]',
            f'bearer_token = "{account.bearer_token}"',
            f'access_key = "{account.access_key}"',
            f'base_url = "{fake.base_url}"',
            f"requests = {limit.requests}",
            f"per = {limit.per}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


async def cli(*args: str, stderr: int = asyncio.subprocess.PIPE) -> asyncio.subprocess.Process:
    """``python -m karbon_async ARGS``: the same command as the ``karbon-async`` script."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "karbon_async",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=env,
    )


async def run_cli(*args: str) -> tuple[int, str]:
    process = await cli(*args)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the state directory, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".karbon-export" not in p.parts
    }
