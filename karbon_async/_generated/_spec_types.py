"""The shape of one row of the generated operation table (hand-written; see operations.py)."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class OperationSpec:
    """One API operation, as documented by the OpenAPI document.

    ``path`` is the template exactly as in the spec (``/v3/Contacts/{Contactkey}``, including the
    OData forms ``/v3/Comments('{Commentkey}')``); ``path_params`` lists its placeholders in order.
    For collections, ``response_model`` is the model of one ITEM and ``list_key`` is the array key
    the spec documents (``value``, or ``values`` for a few; the API sends ``value`` in practice).
    ``paginated`` means the API pages the collection (``$top``/``$skip``/``@odata.nextLink``);
    ``max_page_size`` is the documented page size when there is one.
    """

    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...] = ()
    request_model: type[Any] | None
    request_content_type: str | None = None
    response_model: type[Any] | None
    response_content_type: str | None = None
    success_status: int
    list_key: str | None = None
    paginated: bool = False
    max_page_size: int | None = None
    tag: str
    deprecated: bool = False
    summary: str = ""

    @property
    def is_list(self) -> bool:
        """True when the response is an OData collection (``{"value": [...]}``)."""
        return self.list_key is not None
