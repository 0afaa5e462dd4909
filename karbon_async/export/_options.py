"""How an export runs: the options every stream of it shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import attrs

from .._retry import RetryPolicy

if TYPE_CHECKING:
    from ._progress import ExportEvent

SINCE_LAST: Literal["last"] = "last"
Since = dt.datetime | Literal["last"] | None


@attrs.frozen
class ExportOptions:
    """The ``Exporter`` keyword arguments that shape how each stream is fetched."""

    resume: bool = False
    since: Since = None
    page_size: int = 100
    retry: RetryPolicy | None = None
    timeout: float | None = 60.0
    max_page_attempts: int = 6
    page_retry_delay: float = 1.0
    on_event: Callable[[ExportEvent], None] | None = None
