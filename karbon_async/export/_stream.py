"""One (account, resource) stream: fetch its pages, write them, checkpoint them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import AsyncGenerator
from typing import Any

from .._client import KarbonClient
from .._converter import format_datetime, parse_datetime, parse_datetime_or_none
from .._exceptions import APIStatusError
from .._json_records import field_values
from .._pagination import Page
from .._retry import RetryPolicy, RetryRule, is_retryable
from ._options import SINCE_LAST, ExportOptions
from ._progress import AccountProgress, ExportEvent, StreamProgress
from ._registry import ExportResource
from ._state import DONE, FINISHING, RUNNING, CheckpointStore, RunState, StreamState
from ._writers import ExportStateError, Records, Sink, StreamInfo, StreamSink

logger = logging.getLogger("karbon_async.export")


def page_rule(options: ExportOptions) -> RetryRule:
    """When the exporter fetches a page again (from the same link: nothing of it was written).

    Only failures the client does not retry itself: a ``Retry-After`` longer than the client's
    ``max_retry_wait`` (the run has time, and the account's budget already holds every request
    back), a body that parsed but is not a page, and any failure when the client's policy
    allows a single attempt. A failure the client already retried and gave up on (a 5xx streak,
    a refused connection) is never retried again here: the retry helper marks it spent.

    Worst case per page: ``max_page_attempts`` fetches (6), each one request of the client
    (its retries are not repeated), or up to the client's ``max_attempts`` (5) when failures of
    different kinds alternate; backoff waits at most ``page_retry_delay`` doubled per retry,
    capped at the policy's ``max_delay``: 1 + 2 + 4 + 8 + 16 = 31 s by default, or a longer
    ``Retry-After``."""
    policy = options.retry or RetryPolicy()

    def decide(error: BaseException, attempts: int) -> bool:
        if is_retryable(error, "GET", policy, max_retry_wait=math.inf):
            return True
        return isinstance(error, ValueError) and not isinstance(error, APIStatusError)

    return RetryRule(
        "export page",
        decide,
        max_attempts=options.max_page_attempts,
        base_delay=options.page_retry_delay,
        max_delay=policy.max_delay,
    )


class StreamRunner:
    """Runs streams against one checkpoint store and one sink."""

    def __init__(self, store: CheckpointStore, sink: Sink, options: ExportOptions) -> None:
        self.store = store
        self.sink = sink
        self.options = options

    def emit(
        self,
        kind: str,
        account: AccountProgress,
        stream: StreamProgress | None = None,
        error: BaseException | None = None,
    ) -> None:
        if self.options.on_event is not None:
            self.options.on_event(ExportEvent(kind, account, stream, error))

    def _info(self, account: str, resource: ExportResource, run: RunState) -> StreamInfo:
        return StreamInfo(account, resource, run.changes_since if run.incremental else None)

    def _output(self, info: StreamInfo) -> Any:
        path_for = getattr(self.sink, "path_for", None)
        return None if path_for is None else path_for(info)

    async def run(
        self,
        client: KarbonClient,
        account: AccountProgress,
        stream: StreamProgress,
        resource: ExportResource,
    ) -> None:
        state = self.store.get(account.name, resource.name)
        run = state.run
        resume = self.options.resume
        if resume and run is not None and run.status == DONE:
            output = self._output(self._info(account.name, resource, run))
            if output is not None and not await asyncio.to_thread(output.exists):
                raise ExportStateError(
                    f"the checkpoint says {account.name}/{resource.name} was finished but "
                    f"{output} is missing; export it again without --resume"
                )
            stream.status = "done-before"
            stream.records, stream.pages, stream.count = run.records, run.pages, run.count
            stream.mode = "changes" if run.incremental else "full"
            stream.output = None if output is None else str(output)
            return
        if not (resume and run is not None):
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
        info = self._info(account.name, resource, run)
        output = self._output(info)
        stream.output = None if output is None else str(output)
        self.emit("stream-started", account, stream)
        sink = await self.sink.open(info, position)
        try:
            if run.status == RUNNING:
                if getattr(sink, "already_finished", False):
                    # Only a FINISHING stream publishes its output: a finished file next to
                    # an unfinished checkpoint was written by something else.
                    raise ExportStateError(
                        f"{stream.output} exists but the checkpoint says "
                        f"{account.name}/{resource.name} is unfinished; "
                        "export again without --resume"
                    )
                if run.pages == 0 or run.next_link is not None:
                    await self._pages(client, account, stream, resource, state, run, sink)
                run.status = FINISHING  # durable before the output is published
                await self.store.commit(account.name, resource.name, state, sink)
            await sink.finish()
        except BaseException:
            try:
                await self.store.forget_sink(account.name, resource.name)
            finally:  # also when the run is stopped during that wait
                await sink.close()
            raise
        run.status = DONE
        if run.incremental and run.new_watermark is not None:
            state.watermark = run.new_watermark
        await self.store.commit(account.name, resource.name, state, None)
        stream.status = "done"
        self.emit("stream-done", account, stream)

    def _new_run(self, state: StreamState, resource: ExportResource) -> RunState:
        since = self.options.since
        if since is None or not resource.incremental:
            return RunState()
        start = state.watermark if since == SINCE_LAST else format_datetime(since)
        return RunState(changes_since=start, incremental=True)

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
        options = self.options
        endpoint = getattr(client, resource.attribute).list
        declared = getattr(type(getattr(client, resource.attribute)), "list", None)
        sized: dict[str, int] = {}
        if getattr(declared, "paged", True):
            limit = getattr(declared, "max_page_size", options.page_size)
            sized["page_size"] = min(options.page_size, limit)
        field = resource.modified_field
        # A saved watermark that is not a date-time (written by an older version from a
        # malformed record) reads everything again rather than failing every later sync.
        since = parse_datetime_or_none(run.changes_since) if run.incremental else None
        schedule = page_rule(options).schedule()
        while True:
            if run.next_link is not None:
                paginator = endpoint(resume_from=run.next_link)
            elif run.incremental:
                paginator = endpoint(**sized, orderby=f"{field} desc")
            else:
                paginator = endpoint(**sized)
            # The records as the API sent them (no models, not even dicts): written byte for
            # byte, numbers and 7-digit timestamps unrounded; only the watermark is ever read.
            pages: AsyncGenerator[Page[bytes], None] = paginator.json().pages()
            try:
                async with contextlib.aclosing(pages):
                    async for page in pages:
                        schedule.succeeded()
                        now = time.monotonic()
                        if account.first_page_at is None:
                            account.first_page_at = now
                        account.last_page_at = now
                        account.pages_fetched += 1
                        records = page.items
                        next_link = page.next_link
                        if run.incremental and field is not None:
                            fresh, newest = _fresh(records, field, since, stream)
                            if _later(newest, run.new_watermark):
                                run.new_watermark = newest
                            if fresh < len(records):
                                records, next_link = records[:fresh], None
                        run.position = await sink.write_page(Records(records))
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
                        self.emit("page", account, stream)
                        if next_link is None:
                            return
                return  # the server gave no next link
            except Exception as exc:
                wait = schedule.failed(exc)
                if wait is None:
                    raise
                stream.page_retries += 1
                self.emit("page-retry", account, stream, exc)
                await asyncio.sleep(wait)


def _fresh(
    records: list[bytes], field: str, since: dt.datetime | None, stream: StreamProgress
) -> tuple[int, str | None]:
    """How many leading records (newest first) changed after ``since``, and the newest
    watermark among them, as sent.

    A record whose watermark is missing or not a date-time is written like the others, but it
    neither ends the scan nor moves the watermark: the scan ends at the first record with a
    readable watermark at or before ``since``."""
    newest: str | None = None
    newest_at: dt.datetime | None = None
    for index, value in enumerate(field_values(records, field)):
        moment = parse_datetime_or_none(value)
        if moment is None:
            if not stream.unreadable_watermarks:
                logger.warning(
                    "%s: a record without a readable %s was written; it does not move the "
                    "watermark",
                    stream.resource,
                    field,
                )
            stream.unreadable_watermarks += 1
            continue
        if since is not None and moment <= since:
            return index, newest
        if newest_at is None or moment > newest_at:
            newest, newest_at = value, moment
    return len(records), newest


def _later(candidate: str | None, current: str | None) -> bool:
    """Whether ``candidate`` is a watermark later than ``current`` (an unreadable one loses)."""
    if candidate is None:
        return False
    now = parse_datetime_or_none(current)
    return now is None or parse_datetime(candidate) > now
