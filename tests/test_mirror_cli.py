"""``karbon-async mirror`` as a user runs it: against ``karbon-async sandbox`` and PostgreSQL,
nothing else; ``--status`` from PostgreSQL; bad input refused in one line with exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import run_cli
from _mirror_helpers import free_port
from postgres_server import PostgresServer, postgres_server, schema

import karbon_async as ka
from karbon_async._cli_inputs import load_accounts
from karbon_async.mirror import MirrorStore
from karbon_async.models import PatchContactRequest

__all__ = ["postgres_server", "schema"]  # the fixtures

KEY = "mirror-cli-signing-key_0123456"


async def spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "karbon_async", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


async def status(dsn: str, schema: str) -> dict[str, Any]:
    code, out = await run_cli("mirror", "--to", dsn, "--schema", schema, "--status", "--json")
    assert code == 0, out
    result: dict[str, Any] = json.loads(out)
    return result


async def database_status(dsn: str, schema: str) -> dict[str, Any]:
    """What ``--status`` reports, read in this process (polling through a new interpreter each
    time would be too slow to catch a backfill half done)."""
    asyncpg = pytest.importorskip("asyncpg")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        return await MirrorStore(pool, schema=schema).status()
    finally:
        await pool.close()


async def newest_change_source(dsn: str, schema: str) -> str:
    asyncpg = pytest.importorskip("asyncpg")
    connection = await asyncpg.connect(dsn)
    try:
        table = MirrorStore(None, schema=schema).changes_table
        source: str = await connection.fetchval(f"SELECT source FROM {table} ORDER BY id DESC")
        return source
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--to", "mysql://x"], {}, "postgresql:// URL"),
        (["--to", "postgresql://h/db"], {}, "--accounts"),
        (["--to", "postgresql://h/db", "--accounts", "a.toml"], {}, "--public-url"),
        (
            ["--to", "postgresql://h/db", "--accounts", "a.toml", "--public-url", "https://x"],
            {},
            "KARBON_WEBHOOK_SIGNING_KEY",
        ),
        (
            [
                "--to",
                "postgresql://h/db",
                "--accounts",
                "a.toml",
                "--public-url",
                "https://x",
                "--listen",
                "nowhere",
            ],
            {"KARBON_WEBHOOK_SIGNING_KEY": KEY},
            "HOST:PORT",
        ),
    ],
)
async def test_bad_input_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KARBON_WEBHOOK_SIGNING_KEY", raising=False)
    process = await spawn("mirror", *args, env=env)
    _, err = await process.communicate()
    assert process.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]


async def test_mirror_against_the_sandbox(
    postgres_server: PostgresServer, schema: str, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.toml"
    size = 500
    sandbox = await spawn(
        "sandbox", "--port", "0", "--accounts", "2", "--size", str(size), "--requests", "4",
        "--per", "1", "--write-accounts", str(accounts), "--webhook-coalesce", "0",
    )  # fmt: skip
    mirror = None
    try:
        assert sandbox.stdout is not None
        line = (await asyncio.wait_for(sandbox.stdout.readline(), 30)).decode()
        base_url = line.split(" at ")[-1].strip()
        await sandbox.stdout.readline()  # the limit line: the accounts file is written
        assert accounts.read_text()
        port = free_port()
        command = (
            "mirror", "--accounts", str(accounts), "--to", postgres_server.dsn,
            "--schema", schema, "--listen", f"127.0.0.1:{port}",
            "--public-url", f"http://127.0.0.1:{port}", "--resources", "contacts,work-items",
            "--reconcile-interval", "30", "--subscription-interval", "30",
        )  # fmt: skip
        env = {"KARBON_WEBHOOK_SIGNING_KEY": KEY}
        mirror = await spawn(*command, env=env)
        deadline = asyncio.get_running_loop().time() + 90
        # Killed (-9) in the middle of its backfill (pages of 100 at 4 requests a second), then
        # started again: it resumes from what PostgreSQL committed.
        streams: list[dict[str, Any]] = []
        while not any(s["live"] and s["running"] for s in streams):
            assert asyncio.get_running_loop().time() < deadline, streams
            await asyncio.sleep(0.05)
            streams = (await database_status(postgres_server.dsn, schema))["streams"]
        mirror.kill()
        await mirror.communicate()
        mirror = await spawn(*command, env=env)
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
            streams = (await database_status(postgres_server.dsn, schema))["streams"]
            if len(streams) == 4 and all(s["last_full_at"] and not s["running"] for s in streams):
                break
        assert len(streams) == 4, streams
        assert {(s["resource"], s["live"]) for s in streams} == {
            ("contacts", size),
            ("work-items", size),
        }
        # Every record announced once, killed or not (the command's own report says so).
        assert (await status(postgres_server.dsn, schema))["changes"] == 4 * size

        # A change made through the API reaches the mirror by its webhook, not by a schedule.
        first = load_accounts(str(accounts))[0]
        before = (await database_status(postgres_server.dsn, schema))["changes"]
        async with ka.KarbonClient(
            bearer_token=first.bearer_token, access_key=first.access_key, base_url=base_url
        ) as client:
            contact = await anext(aiter(client.contacts.list(page_size=1)))
            await client.contacts.patch(
                contact.contact_key, PatchContactRequest(middle_name="Webhooked")
            )
        while asyncio.get_running_loop().time() < deadline:
            if (await database_status(postgres_server.dsn, schema))["changes"] > before:
                break
            await asyncio.sleep(0.1)
        assert (await database_status(postgres_server.dsn, schema))["changes"] == before + 1
        # ...by its webhook (the account's name has spaces: "/Firm%20...%20(0)" on the wire).
        assert await newest_change_source(postgres_server.dsn, schema) == "webhook"

        mirror.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(mirror.communicate(), 30)
        assert mirror.returncode == 0, err.decode()
        assert "mirroring 2 account(s)" in out.decode()
    finally:
        for process in (mirror, sandbox):
            if process is not None and process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await process.communicate()
