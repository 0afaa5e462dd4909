"""Compact JSON in which a ``Decimal`` keeps its digits (``1500.10`` stays ``1500.10``).

The client reads JSON numbers with a fraction as ``Decimal`` (exact); writing them back through
``float`` would round past 15 significant digits. ``json.dumps`` cannot write a number it does
not know, so each Decimal goes out as a stand-in string that is then replaced by its digits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

__all__ = ["encode_exact", "plain_decimal"]

_NUMBER = "\x00karbon-number\x00"
"""Stands in for a Decimal while the C encoder runs; a string of the data equal to it is
noticed (the counts differ) and a fresh random stand-in is used instead."""


def plain_decimal(value: Decimal) -> str:
    """``value`` without an exponent (``Decimal("1E+2")`` -> ``100``), every digit kept."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f")


def encode_exact(value: Any, number: Callable[[Decimal], str] = str) -> str:
    """``value`` as compact JSON (UTF-8 text, not ASCII-escaped), each Decimal written as
    ``number(decimal)``: by default its own digits, as the API sent them."""
    text = _encode_marked(value, _NUMBER, number)
    while text is None:
        text = _encode_marked(value, f"\x00{os.urandom(8).hex()}\x00", number)
    return text


def _encode_marked(value: Any, mark: str, number: Callable[[Decimal], str]) -> str | None:
    numbers: list[str] = []

    def stand_in(item: object) -> Any:
        if isinstance(item, Decimal):
            if not item.is_finite():
                raise ValueError(f"{item} is not a JSON number")
            numbers.append(number(item))
            return mark
        raise TypeError(f"cannot encode {type(item).__name__} as JSON")

    text = json.dumps(value, default=stand_in, separators=(",", ":"), ensure_ascii=False)
    if not numbers:
        return text
    parts = text.split(json.dumps(mark))
    if len(parts) != len(numbers) + 1:
        return None  # the data holds the stand-in itself
    numbers.append("")
    return "".join(p for pair in zip(parts, numbers, strict=True) for p in pair)
