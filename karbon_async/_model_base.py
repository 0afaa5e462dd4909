"""The building blocks every model is made of: the model base, tolerant enums, UNSET, api_field.

Models are frozen attrs classes with slots and no I/O. Field names are snake_case; the API's
PascalCase name is derived by the converter, or given explicitly with ``api_field`` where the
derivation would not produce it (``@odata.context``, acronyms, the API's own typos).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

API_NAME: Final = "karbon_api_name"


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        return False


UNSET: Final = _Unset.UNSET
"""A field left out of a request body, as opposed to ``None``, which sends ``null``."""

Unset = Literal[_Unset.UNSET]


def api_field(api_name: str, **kwargs: Any) -> Any:
    """An attrs field whose JSON name is ``api_name`` rather than the derived PascalCase."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    metadata[API_NAME] = api_name
    return attrs.field(metadata=metadata, **kwargs)


@attrs.frozen(kw_only=True)
class KarbonModel:
    """Base of every model. ``extra`` keeps the fields this SDK does not know yet, verbatim."""

    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).casefold()


class KarbonEnum(str, enum.Enum):
    """A string enum that never fails to decode.

    Spellings that differ only in spaces, underscores, dashes or case (``In Progress`` and
    ``InProgress``) decode to the same member. A value the API adds later decodes to a
    pseudo-member that keeps the raw string, so ``str(member)`` and round-trips are lossless.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        folded = _fold(value)
        for member in cls:
            if _fold(member.value) == folded:
                return member
        pseudo = str.__new__(cls, value)
        pseudo._name_ = value
        pseudo._value_ = value
        return pseudo

    @property
    def is_known(self) -> bool:
        """False for a value this version of the SDK does not know."""
        return self._name_ in type(self).__members__

    def __str__(self) -> str:
        return str(self.value)
