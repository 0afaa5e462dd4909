"""The ledger of a pass in PostgreSQL: what was submitted, what is done, who holds what.

The broker only carries messages; it may lose them (a Redis restarted without persistence, a
worker killed with a message it had taken). So ``fleet submit`` records every shard of a pass
here before it enqueues it, and the workers keep it current:

* ``claim`` when a shard starts (its state becomes ``running``, held by one worker's process
  under a *lease* that expires unless renewed: ``renew``, every quarter of it);
* ``complete`` or ``fail`` (with each account's reason) when it ends; a transient failure
  (``release``) makes it ``waiting`` again, leased to the Celery retry it scheduled;
* the rows and checkpoints themselves are committed by ``PostgresSink`` in one transaction per
  stream, so an account's progress here is exact whatever happens to the ledger's own rows.

``due`` finds what nobody holds: shards of a pass that are neither finished nor leased, and
that were not enqueued in the last ``grace`` seconds. The reaper (``_reaper``) enqueues those
again unless the broker still has their message. The ledger holds each shard's task arguments,
credentials included, exactly as the broker's messages do: secure both alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._exceptions import ConfigurationError
from ..export._postgres import quote_ident

TABLE = "karbon_fleet_shards"

FINISHED = ("complete", "failed")


def table(schema: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(TABLE)}"


async def create(connection: Any, schema: str) -> None:
    """The ledger's table in ``schema`` (created if missing, under the sink's DDL lock)."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "ddl")
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {table(schema)} ("
            "pass_id text NOT NULL, shard integer NOT NULL, spec jsonb NOT NULL, "
            "accounts text[] NOT NULL, state text NOT NULL DEFAULT 'waiting', worker text, "
            "lease_until timestamptz, task_id text, enqueued_at timestamptz, "
            "attempts integer NOT NULL DEFAULT 0, error text, failures jsonb, summary jsonb, "
            "created_at timestamptz NOT NULL DEFAULT now(), "
            "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pass_id, shard))"
        )
        # What the reapers ask for every few seconds: the open shards, few among all passes'.
        await connection.execute(
            f"CREATE INDEX IF NOT EXISTS {quote_ident(TABLE + '_open')} ON {table(schema)} "
            "(created_at, shard) WHERE state IN ('waiting', 'running')"
        )


class PassMismatchError(ConfigurationError):
    """A pass submitted again (``--pass-id``) whose shards would differ from those recorded:
    a shard completed then is skipped now, so with other accounts, resources or ``since`` it
    would be skipped holding work it never did."""


def _check_same_shards(recorded: Sequence[Any], shards: Sequence[dict[str, Any]]) -> None:
    planned = {s["shard"]: s for s in shards}
    for row in sorted(recorded, key=lambda r: r["shard"]):
        shard = planned.get(row["shard"])
        if shard is None:
            continue
        then, now = list(row["accounts"]), [a["name"] for a in shard["accounts"]]
        if then != now:
            differs = (
                f"shard {row['shard']} held {len(then)} account(s) from {then[0]!r}, "
                f"now {len(now)} from {now[0]!r}"
            )
        elif (resources := json.loads(row["resources"])) != shard["resources"]:
            differs = f"shard {row['shard']} exported {', '.join(resources)}, now "
            differs += ", ".join(shard["resources"])
        elif row["since"] != shard["since"]:
            differs = f"shard {row['shard']} read changes since {row['since']}"
            differs += f", now {shard['since']}"
        else:
            continue
        raise PassMismatchError(
            f"pass {shard['pass_id']} was recorded with other shards ({differs}): submit it again "
            "with the same accounts file, --shard-size, --resources and --since, or start a "
            "new pass"
        )


async def record(
    connection: Any, schema: str, shards: Sequence[dict[str, Any]], task_ids: Sequence[str]
) -> list[int]:
    """Record ``shards`` as enqueued now under ``task_ids``; the indexes of those to send. A
    shard of the same pass recorded before (``--pass-id``) stays complete if it was, else waits
    again with these arguments; ``PassMismatchError`` if it held other accounts, resources or
    ``since`` (shards added after the recorded ones are new)."""
    await create(connection, schema)
    async with connection.transaction():
        recorded = await connection.fetch(
            f"SELECT shard, accounts, spec->'resources' AS resources, spec->>'since' AS since "
            f"FROM {table(schema)} WHERE pass_id = $1",
            shards[0]["pass_id"],
        )
        _check_same_shards(recorded, shards)
        rows = await connection.fetch(
            f"INSERT INTO {table(schema)} AS s (pass_id, shard, spec, accounts, task_id, "
            "enqueued_at) "
            "SELECT $1, u.shard, u.spec::jsonb, "
            "ARRAY(SELECT jsonb_array_elements(u.spec::jsonb->'accounts')->>'name'), u.task_id, "
            "now() FROM unnest($2::int[], $3::text[], $4::text[]) AS u(shard, spec, task_id) "
            "ON CONFLICT (pass_id, shard) DO UPDATE SET spec = EXCLUDED.spec, "
            "accounts = EXCLUDED.accounts, task_id = EXCLUDED.task_id, enqueued_at = now(), "
            "state = 'waiting', worker = NULL, lease_until = NULL, error = NULL, failures = NULL, "
            "updated_at = now() WHERE s.state <> 'complete' "
            "RETURNING shard",
            shards[0]["pass_id"],
            [s["shard"] for s in shards],
            [json.dumps(s) for s in shards],
            list(task_ids),
        )
    return sorted(r["shard"] for r in rows)


async def claim(connection: Any, spec: dict[str, Any], worker: str, lease: float) -> str | None:
    """Take the shard for ``worker`` under a ``lease`` of that many seconds; its state before
    (``None``: not in the ledger). A finished shard is not taken. One still leased by another
    process is taken over: that is a second copy of a message (a redelivery while the first
    copy runs), which the accounts' locks in PostgreSQL then keep in line."""
    if (
        "shard" not in spec
        or await connection.fetchval("SELECT to_regclass($1)", table(spec["schema"])) is None
    ):
        return None
    before = await connection.fetchval(
        f"SELECT state FROM {table(spec['schema'])} WHERE pass_id = $1 AND shard = $2",
        spec["pass_id"],
        spec["shard"],
    )
    if before is None or before in FINISHED:
        return before  # type: ignore[no-any-return]
    await connection.execute(
        f"UPDATE {table(spec['schema'])} SET state = 'running', worker = $3, "
        "lease_until = now() + make_interval(secs => $4), attempts = attempts + 1, "
        "updated_at = now() "
        "WHERE pass_id = $1 AND shard = $2 AND state NOT IN ('complete', 'failed')",
        spec["pass_id"],
        spec["shard"],
        worker,
        lease,
    )
    return before  # type: ignore[no-any-return]


async def renew(connection: Any, spec: dict[str, Any], worker: str, lease: float) -> None:
    await connection.execute(
        f"UPDATE {table(spec['schema'])} SET lease_until = now() + make_interval(secs => $4) "
        "WHERE pass_id = $1 AND shard = $2 AND worker = $3 AND state = 'running'",
        spec["pass_id"],
        spec["shard"],
        worker,
        lease,
    )


async def complete(connection: Any, spec: dict[str, Any], summary: dict[str, Any]) -> None:
    await _finish(connection, spec, "complete", None, None, summary)


async def fail(
    connection: Any,
    spec: dict[str, Any],
    error: str | None,
    failures: dict[str, str],
    summary: dict[str, Any] | None,
) -> None:
    """Recorded once: a failed shard is not run again in this pass unless resubmitted."""
    await _finish(connection, spec, "failed", error, failures, summary)


async def _finish(
    connection: Any,
    spec: dict[str, Any],
    state: str,
    error: str | None,
    failures: dict[str, str] | None,
    summary: dict[str, Any] | None,
) -> None:
    await connection.execute(
        f"UPDATE {table(spec['schema'])} SET state = $3, lease_until = NULL, error = $4, "
        "failures = $5::jsonb, summary = $6::jsonb, updated_at = now() "
        "WHERE pass_id = $1 AND shard = $2 AND state <> 'complete'",
        spec["pass_id"],
        spec["shard"],
        state,
        error,
        None if failures is None else json.dumps(failures),
        None if summary is None else json.dumps(summary),
    )


async def release(connection: Any, spec: dict[str, Any], error: str, retry_in: float) -> None:
    """A transient failure: waiting again, left to the retry scheduled in ``retry_in`` seconds
    (the lease covers that wait; the reaper takes over if the retry never comes)."""
    await connection.execute(
        f"UPDATE {table(spec['schema'])} SET state = 'waiting', worker = NULL, error = $3, "
        "lease_until = now() + make_interval(secs => $4), updated_at = now() "
        "WHERE pass_id = $1 AND shard = $2 AND state NOT IN ('complete', 'failed')",
        spec["pass_id"],
        spec["shard"],
        error,
        retry_in,
    )


async def due(connection: Any, schema: str, grace: float) -> list[dict[str, Any]]:
    """Shards nobody holds (call in a transaction: the rows stay locked, and other reapers skip
    them, until it ends): not finished, no live lease, not enqueued in the last ``grace`` s."""
    rows = await connection.fetch(
        f"SELECT pass_id, shard, spec::text AS spec, task_id FROM {table(schema)} "
        "WHERE state IN ('waiting', 'running') AND (lease_until IS NULL OR lease_until < now()) "
        "AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => $1)) "
        "ORDER BY created_at, shard LIMIT 1000 FOR UPDATE SKIP LOCKED",
        grace,
    )
    return [dict(r) for r in rows]


async def enqueued(connection: Any, schema: str, pass_id: str, shards: list[int]) -> None:
    """Sent again (or seen still waiting in the broker) now."""
    await connection.execute(
        f"UPDATE {table(schema)} SET enqueued_at = now() "
        "WHERE pass_id = $1 AND shard = ANY($2::int[])",
        pass_id,
        shards,
    )


async def shards_of(connection: Any, schema: str, pass_id: str | None) -> list[dict[str, Any]]:
    """Every shard of ``pass_id`` (default: the pass submitted last), without credentials."""
    if pass_id is None:
        pass_id = await connection.fetchval(
            f"SELECT pass_id FROM {table(schema)} ORDER BY created_at DESC LIMIT 1"
        )
    rows = await connection.fetch(
        f"SELECT pass_id, shard, accounts, spec->'resources' AS resources, state, worker, "
        "lease_until > now() AS leased, attempts, error, failures::text AS failures, "
        f"summary::text AS summary FROM {table(schema)} WHERE pass_id = $1 ORDER BY shard",
        pass_id,
    )
    shards = []
    for row in rows:
        shard = dict(row)
        shard["resources"] = json.loads(shard["resources"])
        shard["failures"] = json.loads(shard["failures"] or "{}")
        shard["summary"] = json.loads(shard["summary"]) if shard["summary"] else None
        shards.append(shard)
    return shards


async def progress(connection: Any, schema: str, pass_id: str) -> dict[str, dict[str, Any]]:
    """Per account of ``pass_id``: its streams done and pages committed, from the checkpoints
    (written in the same transactions as the rows)."""
    checkpoints = f"{quote_ident(schema)}.karbon_export_checkpoints"
    if await connection.fetchval("SELECT to_regclass($1)", checkpoints) is None:
        return {}
    rows = await connection.fetch(
        "SELECT account, count(*) FILTER (WHERE state->'run'->>'status' = 'done') AS done, "
        "coalesce(sum((state->'run'->>'pages')::int), 0) AS pages "
        f"FROM {checkpoints} WHERE state->>'pass' = $1 GROUP BY account",
        pass_id,
    )
    return {r["account"]: {"streams_done": r["done"], "pages": int(r["pages"])} for r in rows}
