"""The shape of one row of the generated operation table (hand-written; see operations.py)."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs


@attrs.frozen(kw_only=True)
class FilterRule:
    """What ``$filter`` may say about one field of one list operation.

    ``operators``: the comparisons (``eq``, ``ne``, ``gt``, ``ge``, ``lt``, ``le``, ``in``, and
    ``any`` for the lambda ``Field/any(x: x in (...))`` on a collection field). ``functions``:
    ``contains``/``startswith`` (text) and ``day``/``month``/``year`` (date parts).
    ``values``: the spec's enum of the field, when it has one (compared without case or spaces).
    ``spellings``: a value as the API's ``$filter`` must receive it, where that differs from the
    spec's spelling (``InProgress`` -> ``In Progress``).
    """

    field: str
    operators: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    values: tuple[str, ...] | None = None
    spellings: tuple[tuple[str, str], ...] = ()


B = TypeVar("B")
R = TypeVar("R")


@attrs.frozen(kw_only=True)
class OperationSpec(Generic[B, R]):
    """One API operation, as documented by the OpenAPI document plus the curated live facts
    (``tools/live_facts.py``). Typed by its request model ``B`` and response model ``R``
    (``None`` where it has none), so a descriptor built from it is typed too.

    ``path`` is the template exactly as in the spec (``/v3/Contacts/{Contactkey}``, including the
    OData forms ``/v3/Comments('{Commentkey}')``); ``path_params`` lists its placeholders in order.
    For collections, ``response_model`` is the model of one ITEM and ``list_key`` is the array key
    the spec documents (``value``, or ``values`` for a few; the API sends ``value`` in practice).
    ``paginated`` means the API pages the collection (``$top``/``$skip``/``@odata.nextLink``);
    ``max_page_size`` is the page size limit when one is known.

    Query facts, each ``None`` where nothing is known (then not checked) and ``()`` where the
    option is not accepted: ``filters`` (one ``FilterRule`` per filterable field), ``expand`` (the
    ``$expand`` names in the spec's canonical order), ``orderby`` (the sortable fields).
    ``success_statuses``: every 2xx the operation may answer. ``prefer_representation``: send
    ``Prefer: return=representation`` (the API then answers 200 with the record).
    """

    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...] = ()
    request_model: type[B] | None
    request_content_type: str | None = None
    response_model: type[R] | None
    response_content_type: str | None = None
    success_status: int
    success_statuses: tuple[int, ...] = ()
    list_key: str | None = None
    paginated: bool = False
    max_page_size: int | None = None
    filters: tuple[FilterRule, ...] | None = None
    expand: tuple[str, ...] | None = None
    orderby: tuple[str, ...] | None = None
    prefer_representation: bool = False
    tag: str
    deprecated: bool = False
    summary: str = ""

    @property
    def is_list(self) -> bool:
        """True when the response is an OData collection (``{"value": [...]}``)."""
        return self.list_key is not None

    @property
    def name(self) -> str:
        """The entity set, for messages: ``Contacts`` for ``/v3/Contacts/{Contactkey}``."""
        return self.path.split("/")[2].split("(")[0]

    def filter_rule(self, field: str) -> FilterRule | None:
        for rule in self.filters or ():
            if rule.field == field:
                return rule
        return None
