"""Records that do not fit their model: set aside and reported, never lost, never a stop.

The policy, for every list the SDK streams: a record whose JSON does not fit its model (its key
missing or null, a string where a number is documented that is not a number, a list where an
object belongs, ...) does not end the stream and does not cost the other records of its page.
The records that fit are yielded as models; each one that does not becomes a ``Misfit`` which
carries the record's JSON as sent (parsed), where it was (page URL, page number, index in the
page), its key when it has a readable one, and why it does not fit. Misfits are

- on the page that held them (``page.misfits``),
- on the paginator, for its latest iteration (``paginator.misfits``, the first 1,000 kept,
  ``paginator.misfit_count`` counts them all),
- passed to ``on_misfit`` (a callable given to ``list()``), each one as it is met,
- logged: one WARNING per model field per listing (``karbon_async`` logger), then DEBUG.

``strict=True`` on ``list()`` restores fail-fast: the first misfit raises its
``ModelDecodeError`` (``raw``, ``path``, ``url``), after the page's earlier records.

What Karbon documents or was seen to send is decoded rather than set aside: 7-digit fractional
seconds, a date where a date-time is documented, a numeric string where a number is, another
spelling of an enum value, an enum value added later, null in any field but the record's key,
and a Payment without ``PaymentKey`` (the spec's own example has none).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import attrs

from ._converter import api_name
from ._decoder_compiler import is_model
from ._exceptions import ModelDecodeError

logger = logging.getLogger("karbon_async")

MISFITS_KEPT = 1000
"""How many misfits a paginator keeps for ``paginator.misfits`` (all are counted and passed
to ``on_misfit``): misfits cost memory like records, and a stream stays constant in memory."""

_INDEX = re.compile(r"\[\d+\]")


@attrs.frozen
class Misfit:
    """One record that does not fit its model, and everything needed to deal with it later."""

    raw: Any
    """The record's JSON as sent (parsed: a dict for an object, numbers with a fraction as
    ``Decimal``); write it back, store it, or decode it yourself."""
    model: type[Any]
    """The model it did not fit (``dict`` for ``.raw()`` streams: the record is not an object)."""
    key: str | None
    """The record's key (``PaymentKey``, ``ContactKey``...) when it has one that is a string."""
    path: str
    """The field that does not fit, as JSON keys from the model (``WorkItem.FeeSettings.FeeValue``);
    empty when the record itself is not an object."""
    reason: str
    """What is wrong with it (``required, but missing``, ``not an integer: 'x'``)."""
    page_url: str
    """The URL the page was fetched from (resume from it to see the record again)."""
    page_number: int
    """1 for the first page of the listing (or of the resumed part), 2 for the next, ..."""
    index: int
    """The record's position in its page's ``value`` list, from 0."""

    @property
    def field(self) -> str:
        """``path`` without list indexes: what the warning names once per listing."""
        return _INDEX.sub("[]", self.path)

    def error(self) -> ModelDecodeError:
        """The ``ModelDecodeError`` this misfit stands for (what ``strict=True`` raises)."""
        return ModelDecodeError(
            self.reason,
            path=self.path or f"[{self.index}]",
            method="GET",
            url=self.page_url,
            raw=self.raw,
            position=f"record {self.index} of page {self.page_number}",
        )


def record_key(raw: Any, model: type[Any]) -> str | None:
    """The value of the model's key field in ``raw``, when it is a string."""
    if not isinstance(raw, dict) or not is_model(model):
        return None
    name = _key_names.get(model)
    if name is None:
        name = _key_names[model] = _key_name(model)
    value = raw.get(name) if name else None
    return value if isinstance(value, str) else None


_key_names: dict[type[Any], str] = {}


def _key_name(model: type[Any]) -> str:
    fields = [field for field in attrs.fields(model) if field.name != "extra"]
    required = [field for field in fields if field.default is attrs.NOTHING]
    if len(required) == 1:
        return api_name(required[0])
    # A model whose key may be absent (Payment): the field named after it, if any.
    wanted = f"{model.__name__}Key"
    return next((api_name(f) for f in fields if api_name(f) == wanted), "")


def misfit(
    error: ModelDecodeError, model: type[Any], *, page_url: str, page_number: int, index: int
) -> Misfit:
    return Misfit(
        raw=error.raw,
        model=model,
        key=record_key(error.raw, model),
        path=error.path,
        reason=error.reason,
        page_url=page_url,
        page_number=page_number,
        index=index,
    )


class MisfitLog:
    """Logs a listing's misfits: the first on each model field at WARNING, the rest at DEBUG."""

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def log(self, found: Misfit) -> None:
        field = found.field or f"{found.model.__name__} item"
        first = field not in self._warned
        if first and len(self._warned) < MISFITS_KEPT:
            self._warned.add(field)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "%s: %s: record %d of page %d (key %s) set aside as a misfit, the listing goes on%s",
            field,
            found.reason.partition(": ")[0],  # the value itself may be personal data
            found.index,
            found.page_number,
            found.key,
            "; further misfits on this field are logged at DEBUG" if first else "",
        )
