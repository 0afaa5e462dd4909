"""The building blocks every model is made of: the model base, tolerant enums, UNSET, api_field.

Models are frozen attrs classes with slots and no I/O. Field names are snake_case; the API's
PascalCase name is derived by the converter, or given explicitly with ``api_field`` where the
derivation would not produce it (``@odata.context``, acronyms, the API's own typos).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Literal, TypeVar

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

    _karbon_not_null: ClassVar[frozenset[str]] = frozenset()
    """JSON keys a request body may not send as null (set on the classes requests can contain)."""


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).casefold()


E = TypeVar("E", bound="KarbonEnum")

_PSEUDO_CACHE_LIMIT = 1024  # distinct unknown or respelled values remembered per enum class


def spellings(others: Mapping[str, tuple[str, ...]]) -> Callable[[type[E]], type[E]]:
    """Class decorator: other spellings the API or its guides use, by member value.

    They decode to the member (as an alias that re-encodes as received) and are listed, after
    the member's own value, by ``member.spellings``.
    """

    def apply(cls: type[E]) -> type[E]:
        unknown = set(others) - {member.value for member in cls}
        if unknown:
            raise ValueError(f"{cls.__name__} has no members {sorted(unknown)}")
        cls._karbon_spellings = dict(others)  # type: ignore[attr-defined]
        return cls

    return apply


class KarbonEnum(str, enum.Enum):
    """A string enum that never fails to decode and re-encodes what it decoded.

    A member's value is the spec's spelling, which is what requests send. Decoding also accepts
    spellings that differ only in spaces, underscores, dashes or case (``In Progress`` for
    ``InProgress``), and the other spellings listed with ``@spellings``: such a value decodes to
    an *alias* of the member, whose ``value`` is the text received (so a round-trip writes back
    exactly what the server sent) and whose ``name`` is the member's. An alias compares equal
    to its member and to every spelling of it, and hashes like the member. A value the API adds
    later decodes to a pseudo-member that keeps the raw string (``is_known`` is False).

    ``member.spellings`` lists the member's value and its other documented spellings (for
    example, ``PrimaryStatus.IN_PROGRESS.spellings == ("InProgress", "In Progress")``: bodies
    use the first, ``$filter`` the second; ``member.spaced`` picks the spaced one);
    ``member.canonical`` is the member an alias stands for.
    """

    _karbon_canonical: KarbonEnum

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        cache: dict[str, KarbonEnum] = cls.__dict__.get("_karbon_pseudo") or {}
        if not cache:
            cls._karbon_pseudo = cache  # type: ignore[attr-defined]
        found = cache.get(value)
        if found is not None:
            return found
        member = _folded_members(cls).get(_fold(value))
        pseudo: KarbonEnum = str.__new__(cls, value)
        pseudo._name_ = value if member is None else member._name_
        pseudo._value_ = value  # type: ignore[assignment]
        pseudo._karbon_canonical = pseudo if member is None else member
        if len(cache) < _PSEUDO_CACHE_LIMIT:
            cache[value] = pseudo
        return pseudo

    @property
    def canonical(self: E) -> E:
        """The member this value stands for: itself, unless it is an alias."""
        return self.__dict__.get("_karbon_canonical", self)  # type: ignore[no-any-return]

    @property
    def is_known(self) -> bool:
        """False for a value this version of the SDK does not know."""
        return self._name_ in type(self).__members__

    @property
    def spellings(self) -> tuple[str, ...]:
        """The member's own value (what requests send), then its other documented spellings."""
        canonical = self.canonical
        others: Mapping[str, tuple[str, ...]] = type(self).__dict__.get("_karbon_spellings", {})
        return (str(canonical.value), *others.get(canonical.value, ()))

    @property
    def spaced(self) -> str:
        """The spelling with the most spaces: the form the list GET sends and ``$filter``
        matches (``PrimaryStatus.IN_PROGRESS.spaced == "In Progress"``)."""
        return max(self.spellings, key=lambda text: text.count(" "))

    def __eq__(self, other: object) -> bool:
        if str.__eq__(self, other) is True:
            return True
        canonical = self.canonical
        if not canonical.is_known:
            return False
        if isinstance(other, KarbonEnum):
            return type(other) is type(self) and other.canonical is canonical
        if isinstance(other, str):
            return _folded_members(type(self)).get(_fold(other)) is canonical
        return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return str.__hash__(self.canonical)

    def __str__(self) -> str:
        return str(self.value)


def _folded_members(cls: type[KarbonEnum]) -> dict[str, KarbonEnum]:
    """Every folded spelling of every member of ``cls`` -> the member (built once per class)."""
    table: dict[str, KarbonEnum] | None = cls.__dict__.get("_karbon_folded")
    if table is None:
        others: Mapping[str, tuple[str, ...]] = cls.__dict__.get("_karbon_spellings", {})
        table = {}
        for member in cls:
            for text in (member.value, *others.get(member.value, ())):
                table.setdefault(_fold(text), member)
        cls._karbon_folded = table  # type: ignore[attr-defined]
    return table
