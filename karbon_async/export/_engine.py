"""The exporter: every (account, resource) stream at once, each account on its own budget."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import os
import random
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from .._client import DEFAULT_BASE_URL, KarbonClient
from .._converter import format_datetime, parse_datetime, unstructure
from .._exceptions import APIStatusError, KarbonError, RateLimitError, ServerError, TransportError
from .._limits import RateLimit
from .._pagination import Page
from .._retry import RetryPolicy
from ._registry import ExportResource, resolve_resources
from ._state import DONE, FINISHING, RUNNING, CheckpointStore, RunState, StreamState
from ._writers import FileSink, Sink, StreamInfo, StreamSink

SINCE_LAST: Literal["last"] = "last"
Since = dt.datetime | Literal["last"] | None


@attrs.frozen
class Account:
    """One Karbon account to export; ``name`` names its folder and its rows in reports."""

    name: str
    bearer_token: str = attrs.field(repr=False)
    access_key: str = attrs.field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    rate_limit: RateLimit = attrs.field(factory=RateLimit)


@attrs.define
class StreamProgress:
    account: str
    resource: str
    status: str = "pending"
    """pending, running, done, failed, or done-before (a completed stream ``resume`` skipped)."""
    mode: str = "full"
    """full, or changes (an incremental sync from a watermark)."""
    records: int = 0
    pages: int = 0
    count: int | None = None
    """``@odata.count`` of the collection (all of it, also for an incremental sync)."""
    page_retries: int = 0
    """Pages fetched again after the client's own retries gave up (e.g. a truncated body)."""
    error: str | None = None
    output: str | None = None

    @property
    def remaining_pages(self) -> int:
        if self.status not in ("pending", "running"):
            return 0
        if self.count is None:
            return 1
        per_page = max(1, self.records // max(1, self.pages)) if self.pages else 100
        return max(0, math.ceil((self.count - self.records) / per_page))


@attrs.define
class AccountProgress:
    name: str
    limit: RateLimit
    streams: dict[str, StreamProgress]
    requests: int = 0
    """Requests sent for this account (every attempt, retries included)."""
    rate_limited: int = 0
    """429 responses."""
    started: float | None = None
    finished: float | None = None
    in_window: int = 0
    first_page_at: float | None = None
    last_page_at: float | None = None
    pages_fetched: int = 0
    """Pages fetched in this run (resumed streams' earlier pages not included)."""

    @property
    def records(self) -> int:
        return sum(s.records for s in self.streams.values())

    @property
    def pages(self) -> int:
        return sum(s.pages for s in self.streams.values())

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.streams.values())

    def elapsed(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else (now or time.monotonic())
        return max(0.0, end - self.started)

    def window_use(self) -> float:
        """Share of the limit in use right now: slots taken in the current window / limit."""
        return self.in_window / self.limit.requests

    def sustained_rate(self) -> float | None:
        """Successful pages after the first window's worth, over the time from the first page
        to the last, as a share of the limit's rate (1.0: the whole allowance was used).
        None until more than one window's worth of pages arrived."""
        first, last = self.first_page_at, self.last_page_at
        beyond = self.pages_fetched - self.limit.requests
        if first is None or last is None or beyond < 1 or last <= first:
            return None
        return beyond / (last - first) / (self.limit.requests / self.limit.per)

    def eta(self) -> float | None:
        """Seconds left at the full rate, from ``@odata.count``; None when unknown."""
        if self.done:
            return 0.0
        streams = self.streams.values()
        if any(s.count is None and s.status in ("pending", "running") for s in streams):
            return None
        remaining = sum(s.remaining_pages for s in streams)
        free_now = max(0, self.limit.requests - self.in_window)
        return max(0, remaining - free_now) * self.limit.per / self.limit.requests


@attrs.frozen
class ExportEvent:
    """What ``on_event`` receives: ``kind`` is stream-started, page, page-retry, stream-done,
    stream-failed or account-done; ``stream`` is live (read it, do not keep it)."""

    kind: str
    account: AccountProgress
    stream: StreamProgress | None = None
    error: BaseException | None = None


@attrs.frozen
class ExportReport:
    accounts: list[AccountProgress]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[StreamProgress]:
        return [s for a in self.accounts for s in a.streams.values() if s.status == "failed"]

    @property
    def records(self) -> int:
        return sum(a.records for a in self.accounts)

    @property
    def requests(self) -> int:
        return sum(a.requests for a in self.accounts)

    @property
    def rate_limited(self) -> int:
        return sum(a.rate_limited for a in self.accounts)


def _retryable(error: BaseException) -> bool:
    """Failures worth fetching the page again for, once the client's retries are spent."""
    if isinstance(error, RateLimitError | ServerError | TransportError):
        return True
    if isinstance(error, APIStatusError):
        return False  # 4xx: asking again gives the same answer
    return isinstance(error, ValueError)  # a body that parsed but is not a page


class Exporter:
    """Export ``resources`` of every account concurrently.

    * Each account gets its own client, so its own budget: accounts never wait on each other.
      Its streams (one per resource) share that budget first come, first served, each with at
      most one page in flight and one prefetched, so they progress at the same pace.
    * Every page is written, then the stream's checkpoint (next link, counts, the sink's
      position) is journaled with the next group commit, after the sink made it durable.
      ``resume=True`` continues each unfinished stream after its last checkpoint and skips
      finished ones: every record once overall.
    * A page the client gave up on (a truncated or malformed body, a 5xx streak, a long
      ``Retry-After``) is fetched again from the same link up to ``max_page_attempts`` times;
      nothing of it was written, so nothing is doubled.
    * ``since``: a datetime, or ``"last"`` for the watermark the previous sync saved. Resources
      with a ``modified_field`` are then read newest-changed first and stop at the watermark
      (a first ``"last"`` sync reads everything in that order to set one); the others are
      exported in full.
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
    ) -> None:
        names = [a.name for a in accounts]
        if not accounts:
            raise ValueError("no accounts given")
        if len(set(names)) != len(names):
            raise ValueError("account names must be unique")
        self.resources = [
            r if isinstance(r, ExportResource) else resolve_resources([r])[0] for r in resources
        ]
        if not self.resources:
            raise ValueError("no resources given")
        if sink is None and out is None:
            raise ValueError("give out= (a directory) or sink=")
        if state_dir is None:
            if out is None:
                raise ValueError("give state_dir= for checkpoints when using a custom sink")
            state_dir = Path(out) / ".karbon-export"
        self.accounts = list(accounts)
        self.sink: Sink = sink or FileSink(out, format=format, durable=durable)  # type: ignore[arg-type]
        self.store = CheckpointStore(state_dir, durable=durable, interval=commit_interval)
        self.resume = resume
        self.since = since
        self.page_size = page_size
        self.retry = retry
        self.timeout = timeout
        self.max_page_attempts = max_page_attempts
        self.page_retry_delay = page_retry_delay
        self.on_event = on_event
        self.progress = [
            AccountProgress(
                name=a.name,
                limit=a.rate_limit,
                streams={r.name: StreamProgress(a.name, r.name) for r in self.resources},
            )
            for a in self.accounts
        ]
        self._clients: dict[str, KarbonClient] = {}
        self.started: float | None = None

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

    def _emit(
        self,
        kind: str,
        account: AccountProgress,
        stream: StreamProgress | None = None,
        error: BaseException | None = None,
    ) -> None:
        if self.on_event is not None:
            self.on_event(ExportEvent(kind, account, stream, error))

    # -- running
    async def run(self) -> ExportReport:
        """Export everything; failures are in the report (``report.ok``), not raised."""
        self.started = time.monotonic()
        await self.store.open()
        try:
            await asyncio.gather(
                *(
                    self._run_account(a, p)
                    for a, p in zip(self.accounts, self.progress, strict=True)
                )
            )
        finally:
            await self.store.close()
        self.refresh()
        return ExportReport(self.progress, time.monotonic() - self.started)

    async def _run_account(self, account: Account, progress: AccountProgress) -> None:
        progress.started = time.monotonic()
        client = KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=account.base_url,
            rate_limit=account.rate_limit,
            retry=self.retry,
            timeout=self.timeout,
        )
        self._clients[account.name] = client
        try:
            async with client:
                await asyncio.gather(
                    *(
                        self._guarded_stream(client, progress, resource)
                        for resource in self.resources
                    )
                )
                self.refresh()
        finally:
            progress.finished = time.monotonic()
        self._emit("account-done", progress)

    async def _guarded_stream(
        self, client: KarbonClient, account: AccountProgress, resource: ExportResource
    ) -> None:
        stream = account.streams[resource.name]
        try:
            await self._run_stream(client, account, stream, resource)
        except Exception as exc:  # one stream's failure never stops the others
            stream.status = "failed"
            stream.error = _describe(exc)
            self._emit("stream-failed", account, stream, exc)

    async def _run_stream(
        self,
        client: KarbonClient,
        account: AccountProgress,
        stream: StreamProgress,
        resource: ExportResource,
    ) -> None:
        state = self.store.get(account.name, resource.name)
        run = state.run
        if self.resume and run is not None and run.status == DONE:
            stream.status = "done-before"
            stream.records, stream.pages, stream.count = run.records, run.pages, run.count
            stream.mode = "changes" if run.incremental else "full"
            return
        if not (self.resume and run is not None):
            run = state.run = self._new_run(state, resource)
            position = None
            # Forget any earlier run durably before its .part file is started afresh, so a
            # later --resume can never pair an old checkpoint with new data.
            await self.store.commit(account.name, resource.name, state, None)
        else:
            position = run.position
        stream.mode = "changes" if run.incremental else "full"
        stream.records, stream.pages, stream.count = run.records, run.pages, run.count
        stream.status = "running"
        info = StreamInfo(account.name, resource, run.changes_since if run.incremental else None)
        output = getattr(self.sink, "path_for", None)
        stream.output = str(output(info)) if output is not None else None
        self._emit("stream-started", account, stream)
        sink = await self.sink.open(info, position)
        try:
            if run.status == RUNNING:
                if run.pages == 0 or run.next_link is not None:
                    await self._pages(client, account, stream, resource, state, run, sink)
                run.status = FINISHING  # durable before the output is published
                await self.store.commit(account.name, resource.name, state, sink)
            await sink.finish()
        except BaseException:
            await self.store.forget_sink(account.name, resource.name)
            await sink.close()
            raise
        run.status = DONE
        if run.incremental and run.new_watermark is not None:
            state.watermark = run.new_watermark
        await self.store.commit(account.name, resource.name, state, None)
        stream.status = "done"
        self._emit("stream-done", account, stream)

    def _new_run(self, state: StreamState, resource: ExportResource) -> RunState:
        if self.since is None or not resource.incremental:
            return RunState()
        since = state.watermark if self.since == SINCE_LAST else format_datetime(self.since)
        return RunState(changes_since=since, incremental=True)

    async def _pages(
        self,
        client: KarbonClient,
        account: AccountProgress,
        stream: StreamProgress,
        resource: ExportResource,
        state: StreamState,
        run: RunState,
        sink: StreamSink,
    ) -> None:
        endpoint = getattr(client, resource.attribute).list
        declared = getattr(type(getattr(client, resource.attribute)), "list", None)
        sized: dict[str, int] = {}
        if getattr(declared, "paged", True):
            limit = getattr(declared, "max_page_size", self.page_size)
            sized["page_size"] = min(self.page_size, limit)
        field = resource.modified_field
        since = (
            parse_datetime(run.changes_since)
            if run.incremental and run.changes_since is not None
            else None
        )
        failures = 0
        while True:
            if run.next_link is not None:
                paginator = endpoint(resume_from=run.next_link)
            elif run.incremental:
                paginator = endpoint(**sized, orderby=f"{field} desc")
            else:
                paginator = endpoint(**sized)
            pages: AsyncGenerator[Page[Any], None] = paginator.pages()
            try:
                async with contextlib.aclosing(pages):
                    async for page in pages:
                        failures = 0
                        now = time.monotonic()
                        if account.first_page_at is None:
                            account.first_page_at = now
                        account.last_page_at = now
                        account.pages_fetched += 1
                        records = [unstructure(item) for item in page.items]
                        next_link = page.next_link
                        if run.incremental and field is not None:
                            if run.new_watermark is None and records:
                                run.new_watermark = records[0].get(field)
                            if since is not None:
                                fresh = _newer_than(records, field, since)
                                if len(fresh) < len(records):
                                    records, next_link = fresh, None
                        run.position = await sink.write_page(records)
                        run.pages += 1
                        run.records += len(records)
                        run.count = page.count
                        run.next_link = next_link
                        self.store.mark(account.name, resource.name, state, sink)
                        stream.pages, stream.records, stream.count = (
                            run.pages,
                            run.records,
                            run.count,
                        )
                        self._emit("page", account, stream)
                        if next_link is None:
                            return
                return  # the server gave no next link
            except Exception as exc:
                failures += 1
                if not _retryable(exc) or failures >= self.max_page_attempts:
                    raise
                stream.page_retries += 1
                self._emit("page-retry", account, stream, exc)
                ceiling = min(30.0, self.page_retry_delay * 2 ** (failures - 1))
                await asyncio.sleep(random.uniform(ceiling / 2, ceiling))


def _newer_than(
    records: list[dict[str, Any]], field: str, since: dt.datetime
) -> list[dict[str, Any]]:
    """The leading records (newest first) changed after ``since``."""
    fresh: list[dict[str, Any]] = []
    for record in records:
        value = record.get(field)
        if value is None or parse_datetime(value) <= since:
            break
        fresh.append(record)
    return fresh


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, KarbonError):
        return f"{type(error).__name__}: {text}"
    return f"{type(error).__name__}: {text}"


async def export(
    accounts: Sequence[Account], resources: Iterable[str | ExportResource], **options: Any
) -> ExportReport:
    """``Exporter(accounts, resources, **options).run()``."""
    return await Exporter(accounts, resources, **options).run()
