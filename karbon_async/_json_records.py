"""Records as the API wrote them: a collection body split into each item's exact JSON.

``split_collection(body)`` finds the items of an OData collection (``value``, or the spec's
``values``) without building a Python object for any of them: msgspec's ``Raw`` marks where each
item starts and ends, and the item's bytes are copied out as they are. What is guaranteed:

- each text is the item's JSON exactly as sent (numbers' digits, 7-digit fractions, escapes,
  key order), except that a text holding a line break (a pretty-printed body) is re-laid on one
  line with msgspec's formatter, which moves whitespace only;
- the whole body is checked to be JSON; a body that is not raises ``ValueError``, and one that is
  JSON but not a collection raises ``CollectionShapeError``.

Nothing about the items' contents is checked: a text may be any JSON value. ``field_values``
reads top-level fields of many texts at once (keys, watermarks) without decoding the rest.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import msgspec

from ._exceptions import KarbonError


class CollectionShapeError(KarbonError, ValueError):
    """The body is JSON but not an OData collection object."""


class _Collection(msgspec.Struct):
    value: list[msgspec.Raw] | None = None
    # The spec's Invoices/Payments schemas name the array "values"; the API sends "value".
    values: list[msgspec.Raw] | None = None
    next_link: str | None = msgspec.field(default=None, name="@odata.nextLink")
    count: int | str | None = msgspec.field(default=None, name="@odata.count")


_DECODER = msgspec.json.Decoder(_Collection)


def split_collection(body: bytes) -> tuple[list[bytes], str | None, int | None]:
    """(each item's JSON text, ``@odata.nextLink`` or None, ``@odata.count`` or None)."""
    try:
        collection = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise CollectionShapeError(f"not an OData collection: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    raws = collection.value if collection.value is not None else collection.values or []
    if b"\n" in body or b"\r" in body:
        texts = [_one_line(raw) for raw in raws]
    else:
        texts = [bytes(raw) for raw in raws]  # copies: an item never pins the whole body
    count = collection.count
    try:
        number = None if count is None else int(count)
    except ValueError:
        raise CollectionShapeError(f"@odata.count is not a number: {count!r}") from None
    return texts, collection.next_link or None, number


def _one_line(raw: msgspec.Raw) -> bytes:
    text = bytes(raw)
    if b"\n" in text or b"\r" in text:
        # Between tokens only (a string cannot hold a raw line break), so no value changes.
        return msgspec.json.format(text, indent=0)
    return text


@functools.lru_cache(maxsize=64)
def _fields_decoder(name: str) -> msgspec.json.Decoder[Any]:
    reader = msgspec.defstruct("_Fields", [("field", Any, None)], rename={"field": name})
    return msgspec.json.Decoder(reader)


def field_values(texts: Sequence[bytes], name: str) -> list[Any]:
    """The top-level field ``name`` of each text (None where absent or not an object).

    Strings, integers, booleans and null are exact; a number with a fraction is a float (these
    are read for keys and watermarks, never written back)."""
    decoder = _fields_decoder(name)
    values: list[Any] = []
    for text in texts:
        try:
            values.append(decoder.decode(text).field)
        except msgspec.ValidationError:
            values.append(None)
    return values
