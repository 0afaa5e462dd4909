"""The mirror's PostgreSQL: records, tombstones, the change outbox and reconciliation state.

Records live in the tables ``export --to postgresql`` writes (``karbon_<resource>``, the same
definition: ``export._postgres.resource_table_ddl``), so a mirror can take over an exported
schema and the other way round. Beside them:

* ``karbon_mirror_changes``: the outbox. Every committed change (insert, update, delete) is a
  row written in the same transaction as the record, so a change is never announced for a state
  that was not committed, and never lost for one that was.
* ``karbon_mirror_deliveries``: which handler has seen which change (at least once each).
* ``karbon_mirror_streams``: per (account, resource), the watermark, the last reconciliation
  times and the position of a pass under way (next link, run), committed with each page, so a
  killed mirror resumes where PostgreSQL says it was.

Each apply takes a transaction-scoped advisory lock on (table, account): appliers of one
account's table take turns, so every decision (``_decide``) sees the row as committed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from .._exact_json import encode_exact
from ..export._postgres import quote_ident, resource_table, resource_table_ddl
from ._changes import Change
from ._decide import Decision, Stored, Verdict, decide, decide_delete
from ._resources import MIRROR_RESOURCES, MirrorResource


def loads_record(text: str | bytes) -> Any:
    """A stored or listed record as Python: numbers with a fraction as Decimal, as the client
    reads them, so a record compares equal to itself whichever way it came."""
    return json.loads(text, parse_float=Decimal)


@attrs.define
class StreamRow:
    """Where reconciliation of one (account, resource) stands."""

    watermark: str | None = None
    run: str | None = None
    """The pass under way, if any (its id)."""
    full: bool = False
    next_link: str | None = None
    started_at: dt.datetime | None = None
    last_incremental_at: dt.datetime | None = None
    last_full_at: dt.datetime | None = None


class MirrorStore:
    """Reads and writes the mirror's tables through an asyncpg pool it does not own."""

    def __init__(self, pool: Any, *, schema: str = "public", table_prefix: str = "karbon_") -> None:
        self.pool = pool
        self.schema = schema
        self.table_prefix = table_prefix

    def _table(self, name: str) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table_prefix + name)}"

    @property
    def changes_table(self) -> str:
        return self._table("mirror_changes")

    @property
    def deliveries_table(self) -> str:
        return self._table("mirror_deliveries")

    @property
    def streams_table(self) -> str:
        return self._table("mirror_streams")

    def table_for(self, resource: MirrorResource) -> str:
        return resource_table(self.schema, self.table_prefix, resource.export)

    async def setup(self, resources: Iterable[MirrorResource]) -> None:
        """Create every table that is missing (under one lock: concurrent DDL can fail)."""
        statements: list[str] = []
        for resource in resources:
            statements += resource_table_ddl(self.schema, self.table_prefix, resource.export)
        statements += [
            f"CREATE TABLE IF NOT EXISTS {self.changes_table} ("
            "id bigserial PRIMARY KEY, account text NOT NULL, resource text NOT NULL, "
            "key text NOT NULL, action text NOT NULL, changed text[] NOT NULL, "
            "before jsonb, after jsonb, source text NOT NULL, "
            "fetched_at timestamptz NOT NULL, committed_at timestamptz NOT NULL DEFAULT now())",
            f"CREATE TABLE IF NOT EXISTS {self.deliveries_table} ("
            "handler text NOT NULL, change_id bigint NOT NULL, "
            "delivered_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (handler, change_id))",
            f"CREATE TABLE IF NOT EXISTS {self.streams_table} ("
            "account text NOT NULL, resource text NOT NULL, state jsonb NOT NULL, "
            "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (account, resource))",
        ]
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "ddl")
            for statement in statements:
                await connection.execute(statement)

    # -- records
    async def apply(
        self,
        account: str,
        resource: MirrorResource,
        records: Sequence[bytes | Mapping[str, Any]],
        fetched_at: dt.datetime,
        *,
        source: str,
        seen_run: str | None = None,
        stream: tuple[str, StreamRow] | None = None,
    ) -> list[Change]:
        """Decide and write each record (see ``_decide``) in one transaction, with the changes
        it makes in the outbox and, when given, the stream's new state (``stream``: the resource
        name's row) and the keys a full pass saw (``seen_run``)."""
        items = self._keyed(resource, records)
        table = self.table_for(resource)
        async with self.pool.acquire() as connection, connection.transaction():
            await self._lock(connection, table, account)
            stored = await self._stored(connection, table, account, [k for k, _ in items])
            decisions: list[tuple[str, Decision, Stored | None]] = []
            for key, data in items:
                before = stored.get(key)
                decision = decide(
                    before,
                    data,
                    fetched_at,
                    version_field=resource.version_field,
                    same=resource.same_value,
                )
                decisions.append((key, decision, before))
                if decision.verdict.writes:
                    assert decision.record is not None
                    stored[key] = Stored(decision.record, fetched_at, None)
            changes = await self._write(
                connection, account, resource, table, decisions, fetched_at, source
            )
            if seen_run is not None and items:
                await connection.execute(
                    f"UPDATE {table} SET seen_run = $3 "
                    "WHERE account = $1 AND key = ANY($2::text[])",
                    account,
                    [k for k, _ in items],
                    seen_run,
                )
            if stream is not None:
                await self._save_stream(connection, account, stream[0], stream[1])
        return changes

    async def drifted(
        self,
        account: str,
        resource: MirrorResource,
        records: Sequence[bytes | Mapping[str, Any]],
        fetched_at: dt.datetime,
    ) -> list[str]:
        """The keys of list items that would update a stored record (a read, no lock): a list
        item carries only some fields, so the caller fetches these whole before applying."""
        items = self._keyed(resource, records)
        async with self.pool.acquire() as connection:
            stored = await self._stored(
                connection, self.table_for(resource), account, [k for k, _ in items]
            )
        return [
            key
            for key, data in items
            if key in stored
            and decide(
                stored[key],
                data,
                fetched_at,
                version_field=resource.version_field,
                same=resource.same_value,
            ).verdict
            is Verdict.UPDATED
        ]

    @staticmethod
    def _keyed(
        resource: MirrorResource, records: Sequence[bytes | Mapping[str, Any]]
    ) -> list[tuple[str, dict[str, Any]]]:
        field = resource.export.key_field
        items: list[tuple[str, dict[str, Any]]] = []
        for record in records:
            data = loads_record(record) if isinstance(record, bytes | str) else dict(record)
            key = data.get(field)
            if key is None or isinstance(key, dict | list):
                continue  # nothing to key it by: reconciliation cannot place it either
            items.append((str(key), data))
        return items

    async def delete(
        self,
        account: str,
        resource: MirrorResource,
        key: str,
        seen_at: dt.datetime,
        *,
        source: str,
        tombstone: bool = True,
    ) -> list[Change]:
        """Record that ``key`` was seen gone at ``seen_at``. ``tombstone``: also for a key the
        mirror never held, so a late stale fetch cannot create it (off where the key may belong
        to another resource, as a Contact event's may)."""
        table = self.table_for(resource)
        async with self.pool.acquire() as connection, connection.transaction():
            await self._lock(connection, table, account)
            before = (await self._stored(connection, table, account, [key])).get(key)
            if before is None and not tombstone:
                return []
            decision = decide_delete(before, seen_at)
            return await self._write(
                connection, account, resource, table, [(key, decision, before)], seen_at, source
            )

    async def sweep(
        self,
        account: str,
        resource: MirrorResource,
        run: str,
        started_at: dt.datetime,
        *,
        source: str,
    ) -> list[Change]:
        """After a complete full pass that began at ``started_at``: live rows it did not see, and
        that no fetch sent after its start has refreshed, are deleted."""
        table = self.table_for(resource)
        async with self.pool.acquire() as connection, connection.transaction():
            await self._lock(connection, table, account)
            rows = await connection.fetch(
                f"SELECT key, record::text, fetched_at, deleted_at FROM {table} "
                "WHERE account = $1 AND deleted_at IS NULL AND seen_run IS DISTINCT FROM $2 "
                "AND fetched_at < $3",
                account,
                run,
                started_at,
            )
            now = await connection.fetchval("SELECT now()")
            decisions = []
            for row in rows:
                before = Stored(loads_record(row["record"]), row["fetched_at"], row["deleted_at"])
                decisions.append((row["key"], decide_delete(before, now), before))
            return await self._write(connection, account, resource, table, decisions, now, source)

    async def locate(
        self, account: str, key: str, resources: Sequence[MirrorResource]
    ) -> MirrorResource | None:
        """Which of ``resources`` holds a row for ``key``, if any."""
        for resource in resources:
            found = await self.pool.fetchval(
                f"SELECT 1 FROM {self.table_for(resource)} WHERE account = $1 AND key = $2",
                account,
                key,
            )
            if found:
                return resource
        return None

    async def records(self, account: str, resource: MirrorResource) -> dict[str, Any]:
        """Every row of the account: key -> record (None for a tombstone)."""
        rows = await self.pool.fetch(
            f"SELECT key, record::text, deleted_at FROM {self.table_for(resource)} "
            "WHERE account = $1",
            account,
        )
        return {
            row["key"]: None if row["deleted_at"] is not None else loads_record(row["record"])
            for row in rows
        }

    @staticmethod
    async def _lock(connection: Any, table: str, account: str) -> None:
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"karbon-mirror:{table}:{account}",
        )

    @staticmethod
    async def _stored(
        connection: Any, table: str, account: str, keys: list[str]
    ) -> dict[str, Stored]:
        rows = await connection.fetch(
            f"SELECT key, record::text, fetched_at, deleted_at FROM {table} "
            "WHERE account = $1 AND key = ANY($2::text[])",
            account,
            keys,
        )
        return {
            row["key"]: Stored(loads_record(row["record"]), row["fetched_at"], row["deleted_at"])
            for row in rows
        }

    async def _write(
        self,
        connection: Any,
        account: str,
        resource: MirrorResource,
        table: str,
        decisions: Sequence[tuple[str, Decision, Stored | None]],
        at: dt.datetime,
        source: str,
    ) -> list[Change]:
        upserts: dict[str, str] = {}
        deletes: dict[str, str] = {}
        outbox: list[tuple[str, str, list[str], str | None, str | None]] = []
        for key, decision, before in decisions:
            verdict = decision.verdict
            if not verdict.writes:
                continue
            before_text = (
                None if before is None or before.deleted_at else encode_exact(before.record)
            )
            if verdict is Verdict.DELETED:
                tomb = before.record if before is not None else {resource.export.key_field: key}
                deletes[key] = encode_exact(tomb)
                if before is not None:
                    outbox.append((key, verdict.value, list(decision.changed), before_text, None))
            else:
                assert decision.record is not None
                text = encode_exact(decision.record)
                upserts[key] = text
                if decision.changed:  # else it only learned fields: nothing to announce
                    outbox.append((key, verdict.value, list(decision.changed), before_text, text))
        if upserts:
            await connection.execute(
                f"INSERT INTO {table} AS t "
                "(account, key, record, fetched_at, seen_run, deleted_at, writes) "
                "SELECT $1, k, r::jsonb, $4, NULL, NULL, 1 "
                "FROM unnest($2::text[], $3::text[]) AS u(k, r) "
                "ON CONFLICT (account, key) DO UPDATE SET record = EXCLUDED.record, "
                "fetched_at = EXCLUDED.fetched_at, deleted_at = NULL, writes = t.writes + 1",
                account,
                list(upserts),
                list(upserts.values()),
                at,
            )
        if deletes:
            await connection.execute(
                f"INSERT INTO {table} AS t "
                "(account, key, record, fetched_at, seen_run, deleted_at, writes) "
                "SELECT $1, k, r::jsonb, $4, NULL, $4, 1 "
                "FROM unnest($2::text[], $3::text[]) AS u(k, r) "
                "ON CONFLICT (account, key) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, "
                "fetched_at = EXCLUDED.fetched_at",
                account,
                list(deletes),
                list(deletes.values()),
                at,
            )
        if not outbox:
            return []
        rows = await connection.fetch(
            f"INSERT INTO {self.changes_table} "
            "(account, resource, key, action, changed, before, after, source, fetched_at) "
            "SELECT $1, $2, k, a, ARRAY(SELECT jsonb_array_elements_text(c::jsonb)), "
            "b::jsonb, n::jsonb, $3, $4 "
            "FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) "
            "WITH ORDINALITY AS u(k, a, c, b, n, i) ORDER BY i "
            "RETURNING id, key, committed_at",
            account,
            resource.name,
            source,
            at,
            [o[0] for o in outbox],
            [o[1] for o in outbox],
            [json.dumps(o[2]) for o in outbox],
            [o[3] for o in outbox],
            [o[4] for o in outbox],
        )
        return [
            Change(
                id=row["id"],
                account=account,
                resource=resource.name,
                key=key,
                action=action,
                changed_fields=tuple(changed),
                before_json=None if before is None else loads_record(before),
                after_json=None if after is None else loads_record(after),
                source=source,
                committed_at=row["committed_at"],
                model=resource.model,
            )
            for row, (key, action, changed, before, after) in zip(rows, outbox, strict=True)
        ]

    # -- reconciliation state
    async def stream(self, account: str, resource: str) -> StreamRow:
        text = await self.pool.fetchval(
            f"SELECT state::text FROM {self.streams_table} WHERE account = $1 AND resource = $2",
            account,
            resource,
        )
        if text is None:
            return StreamRow()
        data = json.loads(text)
        for name in ("started_at", "last_incremental_at", "last_full_at"):
            if data.get(name) is not None:
                data[name] = dt.datetime.fromisoformat(data[name])
        return StreamRow(**data)

    async def save_stream(self, account: str, resource: str, row: StreamRow) -> None:
        async with self.pool.acquire() as connection:
            await self._save_stream(connection, account, resource, row)

    async def _save_stream(
        self, connection: Any, account: str, resource: str, row: StreamRow
    ) -> None:
        data = {
            k: v.isoformat() if isinstance(v, dt.datetime) else v
            for k, v in attrs.asdict(row).items()
        }
        await connection.execute(
            f"INSERT INTO {self.streams_table} (account, resource, state) "
            "VALUES ($1, $2, $3::jsonb) ON CONFLICT (account, resource) "
            "DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
            account,
            resource,
            json.dumps(data),
        )

    async def counts(self) -> dict[str, Any]:
        """Changes by resource and action (for the status command and tests)."""
        rows = await self.pool.fetch(
            f"SELECT resource, action, source, count(*) AS n FROM {self.changes_table} "
            "GROUP BY resource, action, source ORDER BY resource, action, source"
        )
        return {f"{r['resource']}:{r['action']}:{r['source']}": r["n"] for r in rows}

    async def status(self) -> dict[str, Any]:
        """The mirror at a glance, from PostgreSQL alone (``karbon-async mirror --status``):
        per (account, resource) the live and deleted rows and reconciliation times; per
        handler the changes not yet delivered; the changes committed in all."""
        exists = await self.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", self.streams_table)
        if not exists:
            return {"streams": [], "handlers": {}, "changes": 0}
        streams = []
        for row in await self.pool.fetch(
            f"SELECT account, resource, state::text FROM {self.streams_table} "
            "ORDER BY account, resource"
        ):
            state = json.loads(row["state"])
            resource = MIRROR_RESOURCES.get(row["resource"])
            live = deleted = 0
            if resource is not None:
                counts = await self.pool.fetchrow(
                    f"SELECT count(*) FILTER (WHERE deleted_at IS NULL) AS live, "
                    f"count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted "
                    f"FROM {self.table_for(resource)} WHERE account = $1",
                    row["account"],
                )
                live, deleted = counts["live"], counts["deleted"]
            streams.append(
                {
                    "account": row["account"],
                    "resource": row["resource"],
                    "live": live,
                    "deleted": deleted,
                    "watermark": state.get("watermark"),
                    "last_incremental_at": state.get("last_incremental_at"),
                    "last_full_at": state.get("last_full_at"),
                    "running": state.get("run") is not None,
                }
            )
        total = await self.pool.fetchval(f"SELECT count(*) FROM {self.changes_table}")
        handlers = {
            row["handler"]: total - row["delivered"]
            for row in await self.pool.fetch(
                f"SELECT handler, count(*) AS delivered FROM {self.deliveries_table} "
                "GROUP BY handler ORDER BY handler"
            )
        }
        return {"streams": streams, "handlers": handlers, "changes": total}
