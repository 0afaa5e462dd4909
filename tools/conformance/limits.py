"""Where Prism, not the SDK, cannot do what the check needs: one row per limit, with the reason.

A row excuses an operation's *response* in one mode ("static", "dynamic" or "*" for both)
when every decode problem contains its symptom; the request must still be valid. Rows that
excused nothing in a run are listed at the end of it, so a stale row is noticed.

Not a row, because the harness avoids it: Prism's ``@odata.nextLink`` is the spec's example
(production) or random text, never a link to Prism, so list calls read one page
(``max_items=1``; the SDK still decodes the whole page) and following links is not checked.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class Limit:
    operation_id: str
    """An operationId, or "*" for any."""
    mode: str
    symptom: str
    """Text that each of the operation's decode problems contains."""
    reason: str


KNOWN_LIMITS: tuple[Limit, ...] = (
    Limit(
        "downloadFile",
        "*",
        "ServerError: 500",
        "Prism cannot serve application/octet-stream: the spec gives the 200 body no schema or "
        "example (static: 'Cannot find serializer'; dynamic: 'schema is not defined')",
    ),
    Limit(
        "downloadFileDetailsByKey",
        "static",
        "ConnectError: not sent",
        "the 302's Location is the spec's example, a production URL the harness never contacts",
    ),
    Limit(
        "downloadFileDetailsByKey",
        "dynamic",
        "NotFoundError: 404",
        "the 302's Location is random text, which resolves to a path Prism does not serve",
    ),
    Limit(
        "*",
        "dynamic",
        "UnsafeURLError: not an absolute http(s) URL",
        "Prism sent an empty page whose @odata.nextLink is random text: the paginator has to "
        "follow it to go on, and rightly refuses",
    ),
)


def limit_for(operation_id: str, mode: str, problems: Sequence[str]) -> Limit | None:
    """The row that explains these decode problems of the operation, if one does."""
    decode = [p for p in problems if p.startswith("decode:")]
    for row in KNOWN_LIMITS:
        applies = row.operation_id in (operation_id, "*") and row.mode in (mode, "*")
        if applies and decode and all(row.symptom in p for p in decode):
            return row
    return None
