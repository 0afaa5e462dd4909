"""URLs: building them from parts the caller gave, and refusing any that leave the origin."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from ._exceptions import UnsafeURLError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE_IN_KEY = re.compile(r"[/?#\\\x00-\x1f\x7f]")
# Characters left as they are in query values: what OData expressions use and URLs allow.
_QUERY_SAFE = "$'(),:@!*"


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise UnsafeURLError(f"not an absolute http(s) URL: {url!r}")
    return scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme]


def ensure_same_origin(url: str, origin: tuple[str, str, int]) -> str:
    """``url`` unchanged if it is on ``origin``; otherwise UnsafeURLError, before any send."""
    if origin_of(url) != origin:
        scheme, host, port = origin
        raise UnsafeURLError(
            f"refusing to send credentials to {url!r}: it is not on the configured origin "
            f"{scheme}://{host}:{port}"
        )
    return url


def path_segment(value: str, *, name: str = "key") -> str:
    """A caller's key as one percent-encoded path segment; ValueError for anything that could
    change the path (empty, ``/``, ``?``, ``#``, backslash, control characters, dot segments)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.strip() or value in (".", "..") or _UNSAFE_IN_KEY.search(value):
        raise ValueError(
            f"invalid {name} {value!r}: it must be a non-empty key "
            "without / ? # \\ or control characters"
        )
    return quote(value, safe="")


def odata_key_literal(value: str, *, name: str = "key") -> str:
    """A caller's key as a quoted OData literal inside a path, e.g. ``Comments('k''ey')``."""
    path_segment(value, name=name)  # same rejections
    return quote("'" + value.replace("'", "''") + "'", safe="'")


def query_string(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{quote(key, safe='$')}={quote(value, safe=_QUERY_SAFE)}" for key, value in params.items()
    )


def join_url(base_url: str, path: str, params: Mapping[str, str] | None = None) -> str:
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    if params:
        url += "?" + query_string(params)
    return url


def normalise_link(link: str) -> str:
    """A server-given link as a sendable, percent-encoded URL, changing nothing already valid."""
    return quote(link, safe="%/:=&?~#+!$,;'@()*[]")
