"""What an export reports: the accounts it was given and live progress of every stream."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import attrs

from .._client import DEFAULT_BASE_URL
from .._limits import RateLimit


@attrs.frozen
class Account:
    """One Karbon account to export; ``name`` names its folder and its rows in reports."""

    name: str
    bearer_token: str = attrs.field(repr=False)
    access_key: str = attrs.field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    rate_limit: RateLimit = attrs.field(factory=RateLimit)


def check_accounts(accounts: Sequence[Account]) -> None:
    """``ValueError`` unless there is at least one account and their names are unique (names
    key their files, rows and reports)."""
    names = [a.name for a in accounts]
    if not accounts:
        raise ValueError("no accounts given")
    if len(set(names)) != len(names):
        raise ValueError("account names must be unique")


@attrs.define
class StreamProgress:
    account: str
    resource: str
    status: str = "pending"
    """pending, running, done, failed, done-before (a completed stream ``resume`` skipped), or
    stopped (the run was stopped by ``ExportReport.error``; ``resume`` continues it)."""
    mode: str = "full"
    """full, or changes (an incremental sync from a watermark)."""
    records: int = 0
    pages: int = 0
    count: int | None = None
    """``@odata.count`` of the collection (all of it, also for an incremental sync)."""
    page_retries: int = 0
    """Pages fetched again after the client's own retries gave up (e.g. a truncated body)."""
    unreadable_watermarks: int = 0
    """Records of an incremental sync written without a readable modified date-time (missing,
    null, not a date-time): they neither end the sync nor move the watermark."""
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
    error: str | None = None
    """What stopped the whole run (a local file that cannot be written, e.g. the disk is full);
    its streams are then ``stopped``. None when every stream ran to its own end."""

    @property
    def ok(self) -> bool:
        return not self.failures and self.error is None

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


def describe(error: BaseException) -> str:
    """One line for a report: the error's class and message."""
    return f"{type(error).__name__}: {str(error) or type(error).__name__}"
