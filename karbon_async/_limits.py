"""Rate-limit settings shared by the client, its budgets and the fake server."""

from __future__ import annotations

import enum
import math

import attrs


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


def _positive_float(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


def _optional_burst(
    instance: RateLimit, attribute: attrs.Attribute[int | None], value: int | None
) -> None:
    if value is None:
        return
    _positive_int(instance, attribute, value)  # type: ignore[arg-type]
    if value > instance.requests:
        raise ValueError(f"burst ({value}) cannot exceed requests ({instance.requests})")


@attrs.frozen
class RateLimit:
    """At most ``requests`` requests may *arrive* at the server in any ``per``-second window.

    Karbon's documented limit is 120 requests per 60 seconds per account per API application.
    ``burst`` optionally smooths traffic: no more than ``burst`` requests are sent back to back,
    after which requests are paced at ``requests / per`` per second. ``None`` (the default) lets
    a whole window's worth go at once, which is still within the limit.
    """

    requests: int = attrs.field(default=120, validator=_positive_int)
    per: float = attrs.field(default=60.0, validator=_positive_float, converter=float)
    burst: int | None = attrs.field(default=None, validator=_optional_burst, kw_only=True)


def check_lane(lane: object) -> Lane:
    """``lane`` if it is a ``Lane``; else a TypeError naming the choices (``7``, ``"bulk"``)."""
    if not isinstance(lane, Lane):
        raise TypeError(f"lane must be Lane.INTERACTIVE or Lane.BULK, got {lane!r}")
    return lane


class Lane(enum.IntEnum):
    """Priority lanes of an account budget; a lower value is served first."""

    INTERACTIVE = 0
    """Calls a person or an event is waiting on, such as fetching the record a webhook named."""
    BULK = 1
    """Exports, syncs and other background traffic."""
