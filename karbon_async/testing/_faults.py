"""Injected failures: what a :class:`Fault` does and which requests a :class:`FaultRule` hits."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from ._common import error

__all__ = ["Fault", "FaultKind", "FaultRule"]


class FaultKind(enum.Enum):
    """What a :class:`Fault` does to the request it hits."""

    STATUS = "status"
    RATE_LIMITED = "rate_limited"
    DISCONNECT = "disconnect"
    DELAY = "delay"
    MALFORMED_JSON = "malformed_json"
    TRUNCATE = "truncate"


def _default_fault_body(status: int) -> Any:
    """The body Karbon sends with ``status``, so a fault looks like the real failure."""
    if status == 401:
        return {"error": {"statusCode": "401", "message": "JWT not present."}}
    if status == 404:
        return error("4004", "Not Found")
    if status == 409:
        return error(
            "4020",
            "The resource was modified by another request. Refetch the latest version and retry.",
        )
    if status == 429:
        return {"statusCode": "429", "message": "Rate limit is exceeded. Try again in 1 seconds."}
    if 400 <= status < 500:
        return error("4002", "Bad Request")
    return error(
        "5001",
        "Unexpected Internal Error. Please contact Karbon HQ Technical support with API Request "
        "Id of 63792674374107265425.",
    )


@attrs.frozen
class Fault:
    """A failure to inject; build one with the class methods, register it with ``add_fault``."""

    kind: FaultKind
    status_code: int = 200
    body: Any = None
    retry_after: int = 1
    seconds: float = 0.0

    @classmethod
    def status(cls, status: int = 500, body: Any = None) -> Fault:
        """Answer ``status`` with Karbon's body for it (5xx: the 5001 body) or ``body``."""
        return cls(
            FaultKind.STATUS, status, body if body is not None else _default_fault_body(status)
        )

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Fault:
        """A gateway 429 with ``Retry-After``, whatever the sliding window says."""
        return cls(FaultKind.RATE_LIMITED, 429, retry_after=retry_after)

    @classmethod
    def disconnect(cls) -> Fault:
        """Read the request, then drop the connection without answering."""
        return cls(FaultKind.DISCONNECT)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally (to trigger client timeouts)."""
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def conflict(cls) -> Fault:
        """Karbon's 409 for a write that lost an optimistic-concurrency race (code 4020)."""
        return cls.status(409)

    @classmethod
    def truncate(cls) -> Fault:
        """Send the real status and headers (full Content-Length), half the body, then close."""
        return cls(FaultKind.TRUNCATE)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 with the real body cut in half, as a broken proxy might."""
        return cls(FaultKind.MALFORMED_JSON)


@attrs.define
class FaultRule:
    """A registered fault and what it matches; ``remaining`` counts down (None: forever)."""

    fault: Fault
    account: int | None
    method: str | None
    path: str | None
    remaining: int | None
    hits: int = 0
    rate: float = 1.0
    """Fraction of matching requests hit (drawn from the fake's seeded RNG)."""

    def matches(self, account: int, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.account is not None and self.account != account:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path.startswith(self.path)
