"""Query options checked against an operation's facts (``OperationSpec``) before sending.

What an endpoint accepts comes from the generated table: ``filters`` (field -> operators,
functions, values), ``expand`` (names, in the spec's order), ``orderby`` (sortable fields). A
fact of ``None`` is unknown and not checked; ``()`` means the option is not accepted. The
messages say what the endpoint supports, e.g. ``Contacts: FullName supports eq, contains;
'ne' is not allowed``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ._generated._spec_types import FilterRule, OperationSpec
from ._odata import Clause, Filter, Literal, parse_orderby, split_names


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).casefold()


def _supports(rule: FilterRule) -> str:
    words = [*rule.operators, *(f"{name}()" for name in rule.functions)]
    return ", ".join(words) or "nothing"


def _check_clause(op: OperationSpec[Any, Any], rules: tuple[FilterRule, ...], c: Clause) -> None:
    rule = op.filter_rule(c.field)
    if rule is None:
        fields = ", ".join(r.field for r in rules)
        raise ValueError(f"{op.name}: cannot filter on {c.field!r}; filterable fields: {fields}")
    if c.function is not None and c.function not in rule.functions:
        raise ValueError(
            f"{op.name}: {c.field} supports {_supports(rule)}; '{c.function}()' is not allowed"
        )
    if c.operator is not None and c.operator not in rule.operators:
        raise ValueError(
            f"{op.name}: {c.field} supports {_supports(rule)}; '{c.operator}' is not allowed"
        )
    if rule.values is not None and c.function is None:
        allowed = {_fold(v) for v in rule.values}
        for value in c.values:
            text = value.value if isinstance(value, enum.Enum) else value
            if isinstance(text, str) and _fold(text) not in allowed:
                raise ValueError(
                    f"{op.name}: {c.field} is one of {', '.join(rule.values)}; not {text!r}"
                )


def render_filter(value: Filter | str, op: OperationSpec[Any, Any]) -> str:
    """The ``$filter`` text: a ``Filter`` is checked against ``op`` and rendered with its value
    spellings; a ``str`` is sent as written."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Filter):
        raise TypeError(
            f"filter must be a Filter (from F) or a raw OData string, not {type(value).__name__}"
        )
    rules = op.filters
    if rules is None:
        return value.render()
    if not rules:
        raise ValueError(f"{op.name} ({op.operation_id}) does not take $filter")
    for clause in value.clauses():
        _check_clause(op, rules, clause)
    spellings = {(rule.field, old): new for rule in rules for old, new in rule.spellings}

    def spell(field: str, text: str) -> str:
        return spellings.get((field, text), text)

    return value.render(spell)


def render_orderby(value: str | Sequence[str], op: OperationSpec[Any, Any]) -> str:
    parsed = parse_orderby(value)
    if op.orderby is not None:
        if not op.orderby:
            raise ValueError(f"{op.name} ({op.operation_id}) does not take $orderby")
        for field, _ in parsed:
            if field not in op.orderby:
                raise ValueError(
                    f"{op.name}: cannot $orderby {field}; sortable: {', '.join(op.orderby)}"
                )
    return ",".join(f"{field} {direction}".strip() for field, direction in parsed)


def render_expand(value: str | Iterable[str], op: OperationSpec[Any, Any]) -> str:
    """The ``$expand`` names, checked and in the canonical order of the spec's enum."""
    names = list(dict.fromkeys(split_names(value, "$expand")))
    allowed = op.expand
    if allowed is None:
        return ",".join(names)
    bad = [name for name in names if name not in allowed]
    if bad:
        options = ", ".join(allowed) if allowed else "none"
        raise ValueError(
            f"cannot $expand {', '.join(bad)} on {op.operation_id} ({op.path}); options: {options}"
        )
    return ",".join(sorted(names, key=allowed.index))


__all__ = ["Literal", "render_expand", "render_filter", "render_orderby"]
