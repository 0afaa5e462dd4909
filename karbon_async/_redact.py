"""URLs as error text and logs show them: no query string, unless DEBUG is asked for.

A query can hold what a log must not: ``$filter`` values (a client's name, an email address)
and download tokens (``/v3/Files?token=...``). Error messages and log lines therefore show a
URL without its query (``https://api.karbonhq.com/v3/Contacts?…``). When the ``karbon_async``
logger is enabled for DEBUG, the query is shown for diagnosis, with every literal of
``$filter`` and every token replaced by ``…``. The exceptions' ``url`` attribute keeps the
whole URL, for programs.

No imports from the package: the error classes use it too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

__all__ = ["redact_text", "shown_url"]

REDACTED = "…"
_LOGGER = logging.getLogger("karbon_async")
# OData literals: quoted strings (quotes doubled inside), and the bare value after an operator
# (numbers, dates, GUIDs, true/false/null).
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_AFTER_OPERATOR = re.compile(r"(?i)\b(eq|ne|gt|ge|lt|le|has)\s+(?!')([^\s()',]+)")
_IN_LIST = re.compile(r"(?i)\bin\s*\(([^)]*)\)")
_SECRET_PARAMS = {"token", "access_token", "signature", "sig", "code"}
_URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+")


def redact_filter(expression: str) -> str:
    """``FullName eq 'O''Brien' and Amount gt 10`` -> ``FullName eq '…' and Amount gt …``."""
    expression = _QUOTED.sub(f"'{REDACTED}'", expression)
    expression = _IN_LIST.sub(f"in ({REDACTED})", expression)
    return _AFTER_OPERATOR.sub(lambda m: f"{m[1]} {REDACTED}", expression)


def _redacted_query(query: str) -> str:
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        key = unquote_plus(name)
        if key.lower() == "$filter":
            value = redact_filter(unquote_plus(value))
        elif key.lower() in _SECRET_PARAMS and value:
            value = REDACTED
        else:
            value = unquote_plus(value)
        parts.append(f"{key}{sep}{value}")
    return "&".join(parts)


def shown_url(url: str) -> str:
    """``url`` as error text and logs may show it (see the module docstring)."""
    base, sep, query = url.partition("?")
    base = base.partition("#")[0]
    if not sep or not query:
        return base
    if _LOGGER.isEnabledFor(logging.DEBUG):
        return f"{base}?{_redacted_query(query.partition('#')[0])}"
    return f"{base}?{REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with every http(s) URL in it shown as ``shown_url`` shows it (a library's
    message, such as aiohttp's, may quote the URL it was given)."""
    return _URL_IN_TEXT.sub(lambda m: shown_url(m[0]), text)
