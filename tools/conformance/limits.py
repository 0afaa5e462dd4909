"""Where Prism, not the SDK, cannot do what the check needs: one row per limit, with the reason.

Keyed by (operationId, mode): mode is "static", "dynamic" or "*" for both. A row turns that
operation's failure into "limit"; a row that no longer fails is reported as stale.
"""

from __future__ import annotations

KNOWN_LIMITS: dict[tuple[str, str], str] = {
    ("downloadFile", "*"): (
        "Prism cannot serve application/octet-stream: the spec gives the 200 body no schema "
        "or example (static: 'Cannot find serializer', dynamic: 'schema is not defined'; a 500)"
    ),
    ("downloadFileDetailsByKey", "*"): (
        "the 302's Location is the spec's example, a production URL the harness does not "
        "contact (static), or random text (dynamic): the redirect's target cannot be fetched"
    ),
}
"""A limit excuses the response only; the request must still be valid.

Not a row, because the harness avoids it: Prism's ``@odata.nextLink`` is the spec's example
(production) or random text, never a link to Prism, so list calls read one page
(``max_items=1``; the SDK still decodes the whole page) and following links is not checked."""


def limit_for(operation_id: str, mode: str) -> str | None:
    return KNOWN_LIMITS.get((operation_id, mode)) or KNOWN_LIMITS.get((operation_id, "*"))
