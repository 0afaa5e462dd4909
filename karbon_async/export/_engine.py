"""The exporter: every (account, resource) stream at once, each account on its own budget."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .._budget import AccountBudget, Budget
from .._client import KarbonClient
from .._gc import tuned_gc
from .._retry import RetryPolicy
from .._statefile import BudgetStateFile, LocalWriteError
from .._urls import origin_of
from ._options import ExportOptions, Since
from ._progress import (
    Account,
    AccountProgress,
    ExportEvent,
    ExportReport,
    StreamProgress,
    check_accounts,
    describe,
)
from ._registry import ExportResource, resolve_resources
from ._state import CheckpointStore
from ._stream import StreamRunner
from ._writers import FileSink, Sink, StreamInfo

BUDGETS = "budgets"
"""The state directory's folder of budget state files, one per (origin, access key)."""


class Exporter:
    """Export ``resources`` of every account concurrently.

    * Each account gets its own client, so its own budget: accounts never wait on each other.
      Its streams (one per resource) share that budget first come, first served, each with at
      most one page in flight and one prefetched, so they progress at the same pace. One
      account's failure (bad credentials, a malformed base URL) never stops another's.
    * Every page is written, then the stream's checkpoint (next link, counts, the sink's
      position) is journaled with the next group commit, after the sink made it durable.
      ``resume=True`` continues each unfinished stream after its last checkpoint and skips
      finished ones (after checking their output is there): every record once overall.
    * Each account's recent sends are recorded in the state directory before they are made,
      so a run started after a crash waits for the slots the dead process used.
    * A page failure the client does not retry itself (a body that is not a page, a
      ``Retry-After`` longer than the client waits) is fetched again from the same link up to
      ``max_page_attempts`` times; nothing of it was written, so nothing is doubled. A failure
      the client already retried (a 5xx streak, a refused connection) is not retried again:
      the stream fails with it, and ``resume=True`` continues it later. Worst cases: see
      ``page_rule`` in ``export/_stream.py``.
    * A local file that cannot be written (the disk is full) stops the whole run:
      ``report.error`` names it, the checkpoints stay consistent, and ``resume=True`` completes.
    * ``since``: a datetime, or ``"last"`` for the watermark the previous sync saved. Resources
      with a ``modified_field`` are then read newest-changed first and stop at the watermark
      (a first ``"last"`` sync reads everything in that order to set one); the others are
      exported in full.
    * Output paths are checked up front: two accounts whose files would be the same on a
      case-insensitive file system are refused (``ValueError``) before anything is written.
    """

    def __init__(
        self,
        accounts: Sequence[Account],
        resources: Iterable[str | ExportResource],
        *,
        out: str | os.PathLike[str] | None = None,
        format: str = "jsonl",
        sink: Sink | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        since: Since = None,
        page_size: int = 100,
        retry: RetryPolicy | None = None,
        timeout: float | None = 60.0,
        max_page_attempts: int = 6,
        page_retry_delay: float = 1.0,
        durable: bool = True,
        commit_interval: float = 0.5,
        on_event: Callable[[ExportEvent], None] | None = None,
        budgets: Callable[[Account], Budget] | None = None,
        tune_gc: bool = True,
    ) -> None:
        check_accounts(accounts)
        self.resources = [
            r if isinstance(r, ExportResource) else resolve_resources([r])[0] for r in resources
        ]
        if not self.resources:
            raise ValueError("no resources given")
        if sink is None and out is None:
            raise ValueError("give out= (a directory) or sink=")
        # A sink with its own checkpoint store (PostgresSink) commits checkpoints in the same
        # transactions as its rows: no journal, and no state directory unless given.
        own_store = getattr(sink, "checkpoint_store", None)
        if state_dir is None and out is not None:
            state_dir = Path(out) / ".karbon-export"
        if state_dir is None and own_store is None:
            raise ValueError("give state_dir= for checkpoints when using a custom sink")
        self.accounts = list(accounts)
        self.sink: Sink = sink or FileSink(out, format=format, durable=durable)  # type: ignore[arg-type]
        _check_distinct_outputs(self.sink, self.accounts, self.resources)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.budgets = budgets
        self.store: CheckpointStore = (
            own_store([a.name for a in self.accounts])
            if own_store is not None
            else CheckpointStore(state_dir, durable=durable, interval=commit_interval)  # type: ignore[arg-type]
        )
        self.options = ExportOptions(
            resume=resume,
            since=since,
            page_size=page_size,
            retry=retry,
            timeout=timeout,
            max_page_attempts=max_page_attempts,
            page_retry_delay=page_retry_delay,
            on_event=on_event,
        )
        self.runner = StreamRunner(self.store, self.sink, self.options)
        self.progress = [
            AccountProgress(
                name=a.name,
                limit=a.rate_limit,
                streams={r.name: StreamProgress(a.name, r.name) for r in self.resources},
            )
            for a in self.accounts
        ]
        self._clients: dict[str, KarbonClient] = {}
        self._budgets: dict[str, BudgetStateFile] = {}
        self._tasks: list[asyncio.Future[None]] = []
        self._fatal: LocalWriteError | None = None
        self.started: float | None = None
        self.tune_gc = tune_gc

    # -- live figures
    def refresh(self) -> list[AccountProgress]:
        """Pull request and 429 counts from each account's budget; returns ``progress``."""
        for account in self.progress:
            client = self._clients.get(account.name)
            if client is not None:
                snap = client.budget.snapshot()
                account.requests = snap.granted
                account.rate_limited = snap.rate_limited
                account.in_window = snap.in_window
        return self.progress

    # -- running
    async def run(self) -> ExportReport:
        """Export everything; failures are in the report (``report.ok``), not raised. With
        ``tune_gc`` (the default) the garbage collector is tuned for the run (``tuned_gc``)."""
        with tuned_gc() if self.tune_gc else contextlib.nullcontext():
            return await self._run()

    async def _run(self) -> ExportReport:
        self.started = time.monotonic()
        try:
            await self.store.open()
        except LocalWriteError as exc:
            self._fatal = exc
            return self._report()
        try:
            self._tasks = [
                asyncio.ensure_future(self._run_account(a, p))
                for a, p in zip(self.accounts, self.progress, strict=True)
            ]
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            try:
                await self.store.close()
            except LocalWriteError as exc:
                self._stop(exc)
            finally:
                for budget in self._budgets.values():
                    budget.close()
        for result in results:
            if isinstance(result, BaseException) and self._fatal is None:
                raise result
        return self._report()

    def _report(self) -> ExportReport:
        assert self.started is not None
        self.refresh()
        if self._fatal is not None:
            for account in self.progress:
                for stream in account.streams.values():
                    if stream.status in ("pending", "running"):
                        stream.status = "stopped"
        error = None if self._fatal is None else str(self._fatal)
        return ExportReport(self.progress, time.monotonic() - self.started, error)

    def _stop(self, error: LocalWriteError) -> None:
        """Nothing more can be saved: stop every stream where it is (its checkpoint holds)."""
        if self._fatal is None:
            self._fatal = error
            for task in self._tasks:
                task.cancel()

    def _budget(self, account: Account) -> Budget:
        """The account's budget, recorded in the state directory; one per set of credentials,
        as the server counts requests per account, not per name. ``budgets=`` (e.g. a
        RedisBudget per account, shared by a fleet) replaces this; without a state directory
        each account gets an in-process budget."""
        if self.budgets is not None:
            return self.budgets(account)
        if self.state_dir is None:
            return AccountBudget(account.rate_limit)
        scheme, host, port = origin_of(account.base_url)
        identity = f"{scheme}://{host}:{port}\n{account.access_key}".encode()
        key = hashlib.sha256(identity).hexdigest()[:24]
        budget = self._budgets.get(key)
        if budget is None:
            path = self.state_dir / BUDGETS / f"{key}.log"
            budget = self._budgets[key] = BudgetStateFile(path, account.rate_limit)
        return budget

    async def _run_account(self, account: Account, progress: AccountProgress) -> None:
        progress.started = time.monotonic()
        try:
            client = KarbonClient(
                bearer_token=account.bearer_token,
                access_key=account.access_key,
                base_url=account.base_url,
                budget=self._budget(account),
                retry=self.options.retry,
                timeout=self.options.timeout,
            )
            self._clients[account.name] = client
            async with client:
                await asyncio.gather(
                    *(
                        self._guarded_stream(client, progress, resource)
                        for resource in self.resources
                    )
                )
                self.refresh()
        except Exception as exc:  # this account cannot run at all; the others go on
            self._fail_account(progress, exc)
        finally:
            progress.finished = time.monotonic()
        self.runner.emit("account-done", progress)

    def _fail_account(self, progress: AccountProgress, error: Exception) -> None:
        if isinstance(error, LocalWriteError):
            self._stop(error)
            return
        for stream in progress.streams.values():
            if stream.status in ("pending", "running"):
                stream.status = "failed"
                stream.error = describe(error)
                self.runner.emit("stream-failed", progress, stream, error)

    async def _guarded_stream(
        self, client: KarbonClient, account: AccountProgress, resource: ExportResource
    ) -> None:
        stream = account.streams[resource.name]
        try:
            await self.runner.run(client, account, stream, resource)
        except LocalWriteError as exc:
            self._stop(exc)
        except Exception as exc:  # one stream's failure never stops the others
            stream.status = "failed"
            stream.error = describe(exc)
            self.runner.emit("stream-failed", account, stream, exc)


def _check_distinct_outputs(
    sink: Sink, accounts: Sequence[Account], resources: Sequence[ExportResource]
) -> None:
    """Refuse two streams whose output files would be one, on any file system: compared as
    final paths, case-folded (macOS and Windows ignore case by default)."""
    path_for = getattr(sink, "path_for", None)
    if path_for is None:
        return
    seen: dict[str, str] = {}
    for account in accounts:
        for resource in resources:
            path = str(path_for(StreamInfo(account.name, resource)))
            other = seen.setdefault(path.casefold(), account.name)
            if other != account.name:
                raise ValueError(
                    f"accounts {other!r} and {account.name!r} would write to the same "
                    f"file {path}; rename one of them"
                )


async def export(
    accounts: Sequence[Account], resources: Iterable[str | ExportResource], **options: Any
) -> ExportReport:
    """``Exporter(accounts, resources, **options).run()``."""
    return await Exporter(accounts, resources, **options).run()
