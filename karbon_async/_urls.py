"""URLs: building them from parts the caller gave, and refusing any that leave the origin."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from yarl import URL

from ._exceptions import UnsafeURLError
from ._redact import redact_text, shown_url

_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_KEY_LENGTH = 256
"""The longest key accepted in a path; Karbon's keys and identifiers are far shorter."""
_NOT_IN_URL = re.compile(r"[^\x21-\x7e]")
# A DNS name (underscores too: container names) or an IPv4/IPv6 literal; never percent-encoded.
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|[0-9a-f:.]+")
_UNSAFE_IN_KEY = re.compile(r"[/?#\\\x00-\x1f\x7f]")
# Characters left as they are in query values: what OData expressions use and URLs allow.
_QUERY_SAFE = "$'(),:@!*"


def url_path(url: str) -> str:
    """The path of ``url`` alone: what logs and event hooks may show (a query can hold a token)."""
    return urlsplit(url).path or "/"


def normalise_base_url(url: str) -> str:
    """The API's base URL as requests are built from it: no trailing slash, and no trailing
    ``/v3``, since every path already starts with it (``KARBON_BASE_URL=.../v3`` is common)."""
    base = url.rstrip("/")
    if base.lower().endswith("/v3"):
        base = base[: -len("/v3")].rstrip("/")
    return base


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in; UnsafeURLError for anything but a
    plain absolute http(s) URL: no userinfo, an ASCII host name or IP literal, a valid port."""
    if not isinstance(url, str):
        raise UnsafeURLError(f"not a URL: {type(url).__name__}")
    if _NOT_IN_URL.search(url):
        raise UnsafeURLError(
            f"whitespace, control or non-ASCII characters in the URL {shown_url(url)!r}"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unbalanced bracket in the authority ("Invalid IPv6 URL")
        raise UnsafeURLError(f"not a well-formed URL: {shown_url(url)!r} ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise UnsafeURLError(f"not an absolute http(s) URL: {shown_url(url)!r}")
    if "@" in parts.netloc or "\\" in parts.netloc:
        raise UnsafeURLError(f"userinfo or a backslash in the URL's authority: {shown_url(url)!r}")
    host = (parts.hostname or "").lower()
    if not _HOST.fullmatch(host):
        raise UnsafeURLError(f"not a plain host name or IP address in {shown_url(url)!r}")
    try:
        explicit = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"invalid port in {shown_url(url)!r}") from exc
    if explicit == 0:
        raise UnsafeURLError(f"invalid port in {shown_url(url)!r}")
    port = explicit or _DEFAULT_PORTS[scheme]
    # aiohttp sends through yarl, whose parser must see the very same origin.
    try:
        sent = URL(url, encoded=True)
    except ValueError as exc:
        raise UnsafeURLError(
            f"aiohttp cannot parse {shown_url(url)!r}: {redact_text(str(exc))}"
        ) from exc
    if (
        sent.user is not None
        or sent.password is not None
        or (
            sent.scheme,
            (sent.raw_host or "").lower(),
            sent.port,
        )
        != (scheme, host, port)
    ):
        raise UnsafeURLError(f"{shown_url(url)!r} is ambiguous: aiohttp would read another origin")
    return scheme, host, port


@functools.lru_cache(maxsize=64)
def _origin_prefixes(origin: tuple[str, str, int]) -> tuple[str, ...]:
    """How a URL on ``origin`` starts when written the plain way, up to the path's slash."""
    scheme, host, port = origin
    if ":" in host:  # an IPv6 literal: written in brackets, left to origin_of
        return ()
    prefixes = [f"{scheme}://{host}:{port}/"]
    if port == _DEFAULT_PORTS.get(scheme):
        prefixes.append(f"{scheme}://{host}/")
    return tuple(prefixes)


def ensure_same_origin(url: str, origin: tuple[str, str, int]) -> str:
    """``url`` unchanged if it is on ``origin``; otherwise UnsafeURLError, before any send.

    Twice a page (the next link, then the request), so the common case is cheap: a URL that
    starts with the origin written the plain way and holds nothing ``origin_of`` refuses
    anywhere is on it, as the authority ends at that slash for every parser. Anything else
    goes the long way."""
    fast = type(url) is str and url.startswith(_origin_prefixes(origin))
    if fast and not _NOT_IN_URL.search(url):
        return url
    if origin_of(url) != origin:
        scheme, host, port = origin
        raise UnsafeURLError(
            f"refusing to send credentials to {shown_url(url)!r}: it is not on the configured "
            f"origin {scheme}://{host}:{port}"
        )
    return url


def path_segment(value: str, *, name: str = "key") -> str:
    """A caller's key as one percent-encoded path segment; ValueError for anything that could
    change the path (empty, ``/``, ``?``, ``#``, backslash, control characters, dot segments)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if len(value) > MAX_KEY_LENGTH:
        raise ValueError(f"{name} is {len(value)} characters long; at most {MAX_KEY_LENGTH}")
    if (
        not value.strip()
        or value != value.strip()
        or value in (".", "..")
        or _UNSAFE_IN_KEY.search(value)
        or any(unicodedata.category(char)[0] == "C" or char in "\u2028\u2029" for char in value)
    ):
        raise ValueError(
            f"invalid {name} {value!r}: it must be a non-empty key without surrounding "
            "whitespace, / ? # \\, control, format or unassigned characters"
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
