"""Every error karbon_async raises, under one root.

::

    KarbonError
    ├── APIStatusError              the API answered with a non-success status
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409 (code 4020: refetch, reapply, retry)
    │   ├── UnprocessableEntityError 422 (well-formed but refused, e.g. a duplicate user email)
    │   ├── RateLimitError          429 (``retry_after``)
    │   └── ServerError             5xx
    ├── TransportError              no usable response: connection failures, timeouts, bad bodies
    │   ├── ConnectError            the request was never written: safe to retry any method
    │   ├── RequestTimeoutError     no response in time; the request may have been processed
    │   └── ResponseDecodeError     a response arrived but its body was not what the API sends
    │       └── ModelDecodeError    ...its JSON does not fit the model (``path`` names the field)
    ├── UnsafeURLError              a URL would have sent credentials to another origin
    ├── PaginationError             a nextLink chain that would never end (repeat, empty page)
    ├── LocalWriteError             a local file could not be written (also an OSError)
    └── ConfigurationError          the client cannot be built from what it was given
        └── EventLoopMismatchError  a client used from a second event loop (also a RuntimeError)

Plain ``ValueError``/``TypeError`` are raised, before anything is sent, for invalid arguments.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._redact import shown_url


class KarbonError(Exception):
    """Root of every error raised by karbon_async."""

    not_repeated: bool = False
    """True when a non-idempotent request failed in a way that it may have been processed,
    and so was deliberately not retried."""


class TransportError(KarbonError):
    """No usable response arrived (connection failure, timeout, unreadable body).

    ``maybe_processed`` is True when the request may have reached the server, in which case a
    non-idempotent call (POST, PATCH) is never repeated automatically.

    A network failure is not chained (``__cause__`` is None): the underlying exception's frames
    hold the request headers, credentials included. ``cause`` names its class (for example
    ``"ClientConnectorError"``) and ``errno`` is its OS error number, when it has one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        maybe_processed: bool,
        cause: str | None = None,
        errno: int | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.maybe_processed = maybe_processed
        self.cause = cause
        self.errno = errno


class ConnectError(TransportError):
    """The connection could not be made; the request was never written."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        cause: str | None = None,
        errno: int | None = None,
    ) -> None:
        super().__init__(
            message, method=method, url=url, maybe_processed=False, cause=cause, errno=errno
        )


class RequestTimeoutError(TransportError):
    """The response did not arrive in time; the request may have been processed."""


class ResponseDecodeError(TransportError):
    """The response body could not be decoded as the API's JSON."""


class ModelDecodeError(ResponseDecodeError, ValueError):
    """A JSON body does not fit its model; ``path`` names the field, JSON keys and list indexes
    from the model class (``WorkItem.FeeSettings.FeeValue``), ``reason`` says what is wrong and
    ``raw`` is the JSON value that did not fit, as parsed (a record's dict). ``method`` and
    ``url`` name the request when the caller knows it (``get()`` and list pages fill them in).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        method: str = "",
        url: str = "",
        raw: Any = None,
        position: str = "",
    ) -> None:
        where = f" ({position})" if position else ""
        super().__init__(f"{path}: {message}{where}", method=method, url=url, maybe_processed=True)
        self.path = path
        self.reason = message
        self.raw = raw


class UnsafeURLError(KarbonError, ValueError):
    """A URL (for example an ``@odata.nextLink``) points outside the configured origin."""


class PaginationError(KarbonError):
    """The API's ``@odata.nextLink`` chain cannot be followed to an end: a link repeats one
    already followed, or an empty page names a next page. ``url`` is the link not followed.
    Every item fetched before it has been yielded."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class LocalWriteError(KarbonError, OSError):
    """A local file (export output, checkpoints, budget state) could not be written.

    An ``OSError`` too, with the cause's ``errno`` and ``strerror`` and the file as ``filename``,
    so ``except OSError`` around local writes keeps working."""

    def __init__(self, path: str | os.PathLike[str], cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.strerror}"


class ConfigurationError(KarbonError, ValueError):
    """Missing or inconsistent settings, such as absent credentials in the environment."""


class EventLoopMismatchError(ConfigurationError, RuntimeError):
    """A client (its session and budget belong to one event loop) used from another loop."""


class APIStatusError(KarbonError):
    """The API answered with a non-success HTTP status.

    Attributes: ``status``, ``code`` (Karbon's error code such as ``"4004"``, when given),
    ``message``, ``details``, ``method``, ``url`` and the raw ``body`` bytes.
    """

    def __init__(
        self,
        *,
        status: int,
        method: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        note: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.body = body
        self.headers = dict(headers or {})
        self.code, self.message, self.details = parse_error_body(body)
        text = f"{status} {method} {shown_url(url)}"
        if self.code:
            text += f" [{self.code}]"
        if self.message:
            text += f": {self.message}"
        if note:
            text += f" ({note})"
        super().__init__(text)


class BadRequestError(APIStatusError):
    """400: the API rejected the request's content."""


class AuthenticationError(APIStatusError):
    """401: the bearer token or access key is missing or invalid."""


class PermissionDeniedError(APIStatusError):
    """403: the API application lacks a permission."""


class NotFoundError(APIStatusError):
    """404: no such resource (or it is hidden from this API application)."""


class ConflictError(APIStatusError):
    """409: an optimistic-concurrency conflict; refetch, reapply and retry."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well formed but refused, e.g. a user whose email already exists."""


class RateLimitError(APIStatusError):
    """429: the account's rate limit was exceeded; ``retry_after`` is in seconds."""

    def __init__(self, *, retry_after: float, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)


class ServerError(APIStatusError):
    """5xx: the API failed. For POST and PATCH the request may have been processed."""


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The most specific error class for a status other than 429."""
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, APIStatusError)


def parse_error_body(body: bytes) -> tuple[str | None, str | None, Any]:
    """(code, message, details) from any of Karbon's error shapes, or from a non-JSON body.

    Shapes seen: ``{"error": {"code", "message", "details"}}``, ``{"Error": {"Code", "Message"}}``,
    flat ``{"statusCode", "message"}`` and ``{"error": {"statusCode", "message"}}``.
    """
    try:
        document = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        text = body.decode("utf-8", errors="replace").strip()[:500]
        return None, text or None, None
    inner = document.get("error", document.get("Error", document))
    if not isinstance(inner, dict):
        return None, str(inner), None
    folded = {str(key).lower(): value for key, value in inner.items()}
    code = folded.get("code", folded.get("statuscode"))
    message = folded.get("message")
    return (
        None if code is None else str(code),
        None if message is None else str(message),
        folded.get("details"),
    )
