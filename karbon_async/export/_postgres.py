"""PostgreSQL as an export destination: rows and checkpoints in the same transactions.

``Exporter(accounts, resources, sink=PostgresSink("postgresql://..."))`` (or
``karbon-async export --to postgresql://...``) writes each resource into its own table::

    karbon_<resource>(account text, key text, record jsonb, fetched_at timestamptz,
                      seen_run text, deleted_at timestamptz, writes int,
                      PRIMARY KEY (account, key))

``record`` is the record as the API sent it (JSON, so that fields Karbon adds later are kept
without a migration; index or project it with views as needed). Rows are upserted on
(account, key). ``writes`` counts the upserts of a row: after one export pass every row has 1,
which is how exactly-once can be audited. A record without its key (or an item that is not a
JSON object) is stored too, never skipped: its key is ``~sha256:`` and the first 32 hex digits
of the SHA-256 of its JSON text, so the same record sent again is the same row. ``deleted_at``
is set, not the row removed, on records that a *completed full* pass did not see; a later pass
that sees the record again clears it.

Checkpoints (next link, counts, watermarks) live in ``karbon_export_checkpoints``. The sink
buffers each page's rows in memory and the checkpoint store writes them together with the
stream's checkpoint in one transaction per stream (at most ``commit_interval`` seconds after
the page arrived). There is no local journal: a run killed at any point resumes from what
PostgreSQL committed, and every committed page has its checkpoint, so nothing is written twice
or skipped. Each account is locked (a session advisory lock) while an exporter works on it, so
two exporters, on any machines, never interleave on one account.

``pass_id`` ties the checkpoints to one pass of a fleet: a stream whose saved run belongs to
another pass starts afresh (its watermark is kept), one of the same pass resumes. That lets a
redelivered task always run with ``resume=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._registry import ExportResource
from ._state import GroupCommitStore, RunState, StreamKey, StreamState, run_document
from ._writers import ExportStateError, Record, Records, StreamInfo, StreamSink, encode_record

CHECKPOINTS = "export_checkpoints"

KEEPALIVES = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}
"""Server-side TCP keepalives of the sink's connections: a machine that vanished without closing
them (power, network) is noticed in about a minute, and the account locks it held are freed,
instead of after the kernel's default two hours."""


def quote_ident(name: str) -> str:
    """``name`` as a PostgreSQL identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def check_dsn(dsn: str, option: str = "--to") -> str:
    """``dsn`` if it is a PostgreSQL URL whose hosts and ports parse, else one-line
    ``ValueError`` (before anything connects; the password is never shown). asyncpg would raise
    a bare ``int()`` error from deep inside for ``postgresql://::::/``, and silently wrap a port
    of 99999 round to another port."""
    if not isinstance(dsn, str) or not dsn.startswith(("postgresql://", "postgres://")):
        shown = dsn.split("@")[-1] if isinstance(dsn, str) else dsn
        raise ValueError(f"{option} must be a postgresql:// URL, got {shown!r}")
    scheme, _, rest = dsn.partition("://")
    shown = f"{scheme}://{rest.partition('?')[0].rpartition('@')[2]}"  # no secrets
    try:
        parts = urlsplit(dsn)
        # Split as asyncpg does: userinfo ends at the first "@" (a password's "@" is %40).
        hosts = parts.netloc.partition("@")[2 if "@" in parts.netloc else 0].split(",")
        if len(hosts) > 1 and not all(hosts):
            raise ValueError("an empty host in the list of hosts")
        ports = [port for spec in hosts if (port := _port(spec)) is not None]
        query = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        ports += [value for key, value in query if key == "port"]
    except ValueError as exc:
        raise ValueError(f"{option} {shown}: {exc}") from None
    for port in ports:
        for one in port.split(","):
            if not (one.isascii() and one.isdigit() and 1 <= int(one) <= 65535):
                raise ValueError(f"{option} {shown}: port {one!r} is not a number from 1 to 65535")
    return dsn


def resource_table(schema: str, table_prefix: str, resource: ExportResource) -> str:
    """The qualified name of ``resource``'s table (``work-items`` -> ``"karbon_work_items"``)."""
    name = table_prefix + resource.name.replace("-", "_")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def resource_table_ddl(schema: str, table_prefix: str, resource: ExportResource) -> list[str]:
    """The statements creating ``resource``'s table (see the module docstring) if missing: the
    one definition the sink and the mirror (``karbon_async.mirror``) share."""
    table = resource_table(schema, table_prefix, resource)
    index = quote_ident(f"{table_prefix}{resource.name}_live".replace("-", "_"))
    return [
        f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}",
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "account text NOT NULL, key text NOT NULL, record jsonb NOT NULL, "
        "fetched_at timestamptz NOT NULL, seen_run text, deleted_at timestamptz, "
        "writes integer NOT NULL DEFAULT 1, PRIMARY KEY (account, key))",
        f"CREATE INDEX IF NOT EXISTS {index} ON {table} (account) WHERE deleted_at IS NULL",
    ]


def _port(host_spec: str) -> str | None:
    """The port of one ``host[:port]`` (an IPv6 host in brackets); None when none is given."""
    if host_spec.startswith("["):
        _host, bracket, rest = host_spec[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"bad IPv6 host {host_spec!r}")
        return rest[1:] if rest else None
    _host, colon, port = host_spec.partition(":")
    return port if colon else None


async def connect_pool(dsn: str, *, max_size: int = 10) -> Any:
    """An asyncpg pool on ``dsn`` as the sink makes its own (``KEEPALIVES``), to share between
    sinks with ``PostgresSink(pool=)``."""
    return await _asyncpg().create_pool(
        dsn, min_size=1, max_size=max_size, server_settings=KEEPALIVES
    )


async def acquire_alive(pool: Any) -> Any:
    """A connection of ``pool`` that answered just now. A pool kept between exports (a fleet
    worker's, idle while no shard runs) can hold connections a PostgreSQL restart closed
    without the event loop seeing it: the first query on one fails with "connection was
    closed". Such a pool has all its connections replaced (``expire_connections``) and one
    fresh connection is taken; if the server cannot be reached, that error is raised."""
    asyncpg = _asyncpg()
    lost = (
        OSError,
        asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.OperatorInterventionError,  # "terminating connection due to ..."
    )
    connection = await pool.acquire()
    try:
        await connection.fetchval("SELECT 1")
        return connection
    except lost:
        await pool.release(connection)
    except BaseException:
        await pool.release(connection)
        raise
    await pool.expire_connections()
    connection = await pool.acquire()
    try:
        await connection.fetchval("SELECT 1")
    except BaseException:
        await pool.release(connection)
        raise
    return connection


def _asyncpg() -> Any:
    try:
        return importlib.import_module("asyncpg")
    except ImportError as exc:  # pragma: no cover - exercised without asyncpg installed
        raise ExportStateError(
            "the PostgreSQL destination needs asyncpg: pip install 'karbon-async[postgres]'"
        ) from exc


logger = logging.getLogger("karbon_async.export")


def keyless_key(text: str) -> str:
    """The row key of a record that has none: the same for the same JSON text."""
    return "~sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


class PostgresStream:
    """One (account, resource) stream: pages wait here until the checkpoint store commits them
    with the stream's checkpoint."""

    already_finished = False

    def __init__(self, sink: PostgresSink, info: StreamInfo, run_id: str) -> None:
        self._sink = sink
        self.info = info
        self.run_id = run_id
        self.table = sink.table_for(info.resource)
        self._pending: dict[str, str] = {}
        self._keyless = 0

    async def write_page(self, records: Sequence[Record]) -> Any:
        field = self.info.resource.key_field
        if isinstance(records, Records):  # the API's own text: no decoding, nothing rounded
            keys, texts = records.values(field), [t.decode() for t in records.texts]
        else:
            keys = [record.get(field) for record in records]
            texts = [encode_record(record).decode() for record in records]
        for key, text in zip(keys, texts, strict=True):
            if key is None:
                key = keyless_key(text)
                if not self._keyless:
                    logger.warning(
                        "%s of %s: a record without %s is stored under key %s",
                        self.info.resource.name,
                        self.info.account,
                        field,
                        key,
                    )
                self._keyless += 1
            # A record seen twice before a commit (it moved between pages) is stored once.
            self._pending[str(key)] = text
        return self.run_id  # the position: resuming keeps the run, so deletions stay right

    def take(self) -> dict[str, str]:
        pending, self._pending = self._pending, {}
        return pending

    async def sync(self) -> None:
        """Nothing to do: the checkpoint store writes the rows with the checkpoint."""

    async def finish(self) -> None:
        if self.info.changes_since is None:  # a full pass saw every live record
            await self._sink.store.mark_deleted(self)

    async def close(self) -> None:
        self._pending.clear()


class PostgresSink:
    """Upserts every stream into PostgreSQL (see the module docstring for tables and guarantees).

    ``dsn`` is a ``postgresql://`` URL; ``schema`` (created if missing) holds the tables, named
    ``table_prefix`` + resource (``work-items`` becomes ``karbon_work_items``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        table_prefix: str = "karbon_",
        pass_id: str | None = None,
        commit_interval: float = 0.2,
        max_connections: int = 10,
        lock_wait: float = 60.0,
        pool: Any = None,
    ) -> None:
        self.dsn = dsn if pool is not None else check_dsn(dsn, "dsn")
        self.pool = pool
        """An asyncpg pool (``connect_pool``) to borrow instead of opening one per export; it is
        not closed by the sink."""
        self.schema = schema
        self.table_prefix = table_prefix
        self.pass_id = pass_id
        self.commit_interval = commit_interval
        self.max_connections = max_connections
        self.lock_wait = lock_wait
        self.rows_written = 0
        """Rows committed by this sink (for benchmarks and audits)."""
        self._store: PostgresCheckpoints | None = None

    @property
    def store(self) -> PostgresCheckpoints:
        if self._store is None:
            raise RuntimeError("the PostgresSink is not open: give it to an Exporter")
        return self._store

    def table_for(self, resource: ExportResource) -> str:
        return resource_table(self.schema, self.table_prefix, resource)

    @property
    def checkpoint_table(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.table_prefix + CHECKPOINTS)}"

    def checkpoint_store(self, accounts: Iterable[str]) -> PostgresCheckpoints:
        """The exporter's checkpoint store for these accounts (called once per export)."""
        self._store = PostgresCheckpoints(self, list(accounts))
        return self._store

    async def open(self, stream: StreamInfo, position: Any | None) -> StreamSink:
        await self.store.ensure_table(stream.resource)
        run_id = str(position) if position is not None else uuid.uuid4().hex
        return PostgresStream(self, stream, run_id)


class PostgresCheckpoints(GroupCommitStore[tuple[StreamState, "PostgresStream | None"]]):
    """The exporter's checkpoint store kept in PostgreSQL: ``get``/``mark``/``commit`` like
    ``CheckpointStore``, each stream's rows and checkpoint committed in one transaction."""

    def __init__(self, sink: PostgresSink, accounts: list[str]) -> None:
        super().__init__(sink.commit_interval)
        self.sink = sink
        self.accounts = accounts
        self._pool: Any = None
        self._locks: Any = None  # the connection holding the accounts' advisory locks
        self._tables: set[str] = set()

    # -- lifecycle
    async def open(self) -> None:
        asyncpg = _asyncpg()
        try:
            self._pool = self.sink.pool or await connect_pool(
                self.sink.dsn, max_size=self.sink.max_connections
            )
            await self._lock_accounts()
            await self._create(
                f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.sink.schema)}",
                f"CREATE TABLE IF NOT EXISTS {self.sink.checkpoint_table} ("
                "account text NOT NULL, resource text NOT NULL, state jsonb NOT NULL, "
                "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (account, resource))",
            )
            rows = await self._pool.fetch(
                f"SELECT account, resource, state::text FROM {self.sink.checkpoint_table} "
                "WHERE account = ANY($1::text[])",
                self.accounts,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._release()
            raise ExportStateError(f"PostgreSQL: {exc}") from exc
        except BaseException:
            await self._release()
            raise
        for row in rows:
            self._states[(row["account"], row["resource"])] = self._decode(row["state"])
        self._start_flushing()

    async def _lock_accounts(self) -> None:
        """Hold every account's advisory lock (sorted: two shards never deadlock); a dead
        holder's locks go with its connection."""
        self._locks = await acquire_alive(self._pool)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sink.lock_wait
        for account in sorted(self.accounts):
            while not await self._locks.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                f"karbon-export:{self.sink.schema}:{account}",
            ):
                if loop.time() > deadline:
                    raise ExportStateError(
                        f"another export is writing account {account!r} to PostgreSQL"
                    )
                await asyncio.sleep(0.2)

    async def _create(self, *statements: str) -> None:
        """DDL under one transaction lock: concurrent ``CREATE ... IF NOT EXISTS`` from many
        workers can otherwise fail on PostgreSQL's catalog constraints."""
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "ddl")
            for statement in statements:
                await connection.execute(statement)

    async def ensure_table(self, resource: ExportResource) -> None:
        table = self.sink.table_for(resource)
        if table in self._tables:
            return
        await self._create(*resource_table_ddl(self.sink.schema, self.sink.table_prefix, resource))
        self._tables.add(table)

    def _is_open(self) -> bool:
        return self._pool is not None

    async def _release(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._locks is not None:
            with contextlib.suppress(Exception):
                await pool.release(self._locks)  # the pool resets it, dropping the locks
            self._locks = None
        if pool is not self.sink.pool:
            await pool.close()

    # -- states
    def _decode(self, text: str) -> StreamState:
        data = json.loads(text)
        run = data.get("run")
        other_pass = self.sink.pass_id is not None and data.get("pass") != self.sink.pass_id
        if run is not None and other_pass:
            run = None  # another pass's run: this pass starts the stream afresh
        return StreamState(data.get("watermark"), RunState(**run) if run is not None else None)

    def _encode(self, state: StreamState) -> str:
        run = run_document(state.run)
        return json.dumps({"watermark": state.watermark, "run": run, "pass": self.sink.pass_id})

    def mark(
        self, account: str, resource: str, state: StreamState, sink: StreamSink | None
    ) -> None:
        """Commit ``state`` with the rows ``sink`` holds, within ``interval`` seconds."""
        key = (account, resource)
        previous = self._dirty.get(key)
        stream = sink if isinstance(sink, PostgresStream) else None
        if stream is None and previous is not None:
            stream = previous[1]  # its rows still wait for this state
        self._dirty[key] = (state.copy(), stream)

    async def forget_sink(self, account: str, resource: str) -> None:
        """The stream stops: its uncommitted rows and the state that goes with them are dropped
        together, so PostgreSQL keeps the last consistent pair."""
        async with self._commit_lock:
            entry = self._dirty.pop((account, resource), None)
            if entry is not None and entry[1] is not None:
                entry[1].take()

    async def _write_batch(
        self, batch: dict[StreamKey, tuple[StreamState, PostgresStream | None]]
    ) -> None:
        """Each stream's rows and state in one transaction of its own, all at once."""
        # Taken now, with no await since the marks: each state matches its rows exactly.
        work = [
            (key, state, stream, stream.take() if stream is not None else {})
            for key, (state, stream) in batch.items()
        ]
        writing = asyncio.gather(*(self._write(*item) for item in work))
        try:
            await asyncio.shield(writing)
        except asyncio.CancelledError:
            # Transactions on their way to COMMIT finish, so what is known to be committed
            # (and counted) is what PostgreSQL holds.
            with contextlib.suppress(Exception):
                await writing
            raise
        for key, state, _, _ in work:
            self._states[key] = state

    async def _write(
        self,
        key: StreamKey,
        state: StreamState,
        stream: PostgresStream | None,
        rows: dict[str, str],
    ) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            if rows and stream is not None:
                table = stream.table
                await connection.execute(
                    f"INSERT INTO {table} AS t "
                    "(account, key, record, fetched_at, seen_run, deleted_at, writes) "
                    "SELECT $1, k, r::jsonb, now(), $4, NULL, 1 "
                    "FROM unnest($2::text[], $3::text[]) AS u(k, r) "
                    "ON CONFLICT (account, key) DO UPDATE SET record = EXCLUDED.record, "
                    "fetched_at = EXCLUDED.fetched_at, seen_run = EXCLUDED.seen_run, "
                    "deleted_at = NULL, writes = t.writes + 1",
                    key[0],
                    list(rows),
                    list(rows.values()),
                    stream.run_id,
                )
            await connection.execute(
                f"INSERT INTO {self.sink.checkpoint_table} AS c (account, resource, state) "
                "VALUES ($1, $2, $3::jsonb) ON CONFLICT (account, resource) "
                "DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                key[0],
                key[1],
                self._encode(state),
            )
        self.sink.rows_written += len(rows)

    async def mark_deleted(self, stream: PostgresStream) -> None:
        """After a completed full pass: rows of the account it did not see are deleted."""
        try:
            await self._pool.execute(
                f"UPDATE {stream.table} SET deleted_at = now() "
                "WHERE account = $1 AND deleted_at IS NULL AND seen_run IS DISTINCT FROM $2",
                stream.info.account,
                stream.run_id,
            )
        except Exception as exc:
            raise ExportStateError(f"PostgreSQL: {exc}") from exc
