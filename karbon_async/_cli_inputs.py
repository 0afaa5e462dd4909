"""What the command line is given, checked before anything runs: accounts files (one line per
bad field), output paths, ``--since`` and ``--resources``. Each problem is a ``UsageError``: one
line on stderr and exit code 2. Shared by ``karbon-async export`` and ``karbon-async fleet``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._client import DEFAULT_BASE_URL
from ._converter import parse_datetime
from ._limits import RateLimit
from ._urls import normalise_base_url, origin_of
from .export import RESOURCES, SINCE_LAST, Account, resolve_resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class UsageError(Exception):
    """Bad input: reported as one line and exit code 2."""


def load_accounts(path: str | None, environ: dict[str, str] | None = None) -> list[Account]:
    """Accounts from a TOML file (one table per account) or from ``KARBON_*`` variables.

    ::

        [firm-a]
        bearer_token = "..."
        access_key = "..."
        # optional: base_url = "https://api.karbonhq.com", requests = 120, per = 60
    """
    env = os.environ if environ is None else environ
    if path is None:
        missing = [n for n in ("KARBON_BEARER_TOKEN", "KARBON_ACCESS_KEY") if not env.get(n)]
        if missing:
            raise UsageError(
                f"missing credentials: set {' and '.join(missing)}, or pass --accounts FILE"
            )
        base_url = env.get("KARBON_BASE_URL") or DEFAULT_BASE_URL
        if _bad_base_url(base_url):
            raise UsageError(f"KARBON_BASE_URL {base_url!r} is not an absolute http(s) URL")
        return [
            Account(
                env.get("KARBON_ACCOUNT_NAME") or "default",
                env["KARBON_BEARER_TOKEN"],
                env["KARBON_ACCESS_KEY"],
                base_url,
            )
        ]
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise UsageError(f"cannot read accounts file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"accounts file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"accounts file {path} is not UTF-8 text: {exc.reason}") from exc
    accounts: list[Account] = []
    problems: list[str] = []
    for name, table in document.items():
        if not isinstance(table, dict):
            problems.append(f"[{name}] must be a table (one [table] per account)")
            continue
        errors = _account_errors(name, table)
        problems += [f"[{name}] {field}: {error}" for field, error in errors]
        if not errors:
            accounts.append(
                Account(
                    name,
                    table["bearer_token"],
                    table["access_key"],
                    table.get("base_url", DEFAULT_BASE_URL),
                    RateLimit(table.get("requests", 120), table.get("per", 60.0)),
                )
            )
    if problems:
        raise UsageError("\n".join(f"accounts file {path}: {p}" for p in problems))
    if not accounts:
        raise UsageError(f"accounts file {path} has no accounts (one [table] per account)")
    return accounts


_ACCOUNT_KEYS = ("bearer_token", "access_key", "base_url", "requests", "per")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, _ACCOUNT_KEYS, n=1)
    hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(_ACCOUNT_KEYS)}"
    return f"unknown setting ({hint})"


def _account_errors(name: str, table: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, what is wrong) for every bad field of one account's table; secrets not shown."""
    errors: list[tuple[str, str]] = []
    if not name.strip() or _CONTROL.search(name):
        errors.append(("name", "must be non-empty text without control characters"))
    for key in ("bearer_token", "access_key"):
        value = table.get(key)
        if value is None or value == "":
            errors.append((key, "missing"))
        elif not isinstance(value, str):
            errors.append((key, "must be a string"))
        elif _CONTROL.search(value) or value != value.strip():
            errors.append((key, "contains a line break, control character or edge space"))
    base_url = table.get("base_url", DEFAULT_BASE_URL)
    if _bad_base_url(base_url):
        errors.append(("base_url", f"{base_url!r} is not an absolute http(s) URL"))
    requests = table.get("requests", 120)
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        errors.append(("requests", f"{requests!r} is not a positive whole number"))
    per = table.get("per", 60.0)
    if isinstance(per, bool) or not isinstance(per, int | float) or not 0 < per < math.inf:
        errors.append(("per", f"{per!r} is not a positive number of seconds"))
    errors += [(key, _unknown_key(key)) for key in table if key not in _ACCOUNT_KEYS]
    return errors


def _bad_base_url(base_url: object) -> bool:
    """True unless ``base_url`` is what the client accepts: an absolute http(s) URL."""
    try:
        if not isinstance(base_url, str) or _CONTROL.search(base_url):
            raise ValueError
        origin_of(normalise_base_url(base_url))
    except ValueError:
        return True
    return False


_REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str, option: str) -> str:
    """``url`` if it is a Redis URL (redis://, rediss:// or unix://) with a valid port; else a
    ``UsageError`` naming ``option``, without the URL's password."""
    scheme, sep, rest = url.partition("://")
    shown = f"{scheme}{sep}{rest.rpartition('@')[2]}"
    try:
        parts = urlsplit(url)
        if not sep or parts.scheme.lower() not in _REDIS_SCHEMES or _CONTROL.search(url):
            raise ValueError
        if parts.scheme.lower() != "unix":
            if not parts.hostname:
                raise ValueError
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise UsageError(
            f"{option} {shown!r} is not a Redis URL (redis://host:6379/0, rediss://, unix://)"
        ) from None
    return url


def check_writable(directory: str) -> None:
    """Create ``directory`` if needed and prove a file can be written and renamed there."""
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {directory} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".karbon-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to {directory}: {exc.strerror or exc}") from exc


def check_output_file(path: str, option: str) -> None:
    """Refuse a file path the command could not write, before anything else happens.

    Missing folders on the way are created, as ``--out`` creates its own, so
    ``--out export/ --summary-json export/summary.json`` works on a first run.
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path} is a directory")
    parent = target.parent
    existing = next(p for p in (parent, *parent.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: {existing} is a file, not a directory")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create {parent}: {exc.strerror or exc}") from exc
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path} cannot be written (permission denied)")


def parse_since(value: str | None) -> dt.datetime | str | None:
    """``last``, or the time as UTC (a zone-less time is taken as UTC, an offset converted)."""
    if value is None or value == SINCE_LAST:
        return value
    try:
        return parse_datetime(value).astimezone(dt.timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise UsageError(
            f"--since must be 'last' or an ISO date/time such as 2026-01-31T00:00:00Z, "
            f"got {value!r}"
        ) from exc


def resolve_resources_arg(text: str) -> list[str]:
    if text.strip() == "all":
        return list(RESOURCES)
    try:
        return [r.name for r in resolve_resources(n for n in text.split(",") if n.strip())]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
