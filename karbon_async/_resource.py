"""Resources are declared, not written out: each operation is one endpoint descriptor built from
its row of the generated operation table.

::

    class Contacts(Resource):
        list = ListEndpoint.of(Ops.getAllContacts)
        get = GetEndpoint.of(Ops.getContactByID)

Accessing ``client.contacts.list`` returns a typed bound method; the descriptor owns how the
request is built (path keys escaped, OData options checked and rendered, page sizes checked) and
the ``RequestSender`` owns retries, the budget and errors. The pieces live in ``_endpoint``
(shared), ``_read_endpoints`` and ``_write_endpoints``; this module gathers them.
"""

from __future__ import annotations

from ._endpoint import (
    DeclaredOperation,
    Endpoint,
    Resource,
    declared_operations,
    operation,
    request_body,
)
from ._read_endpoints import (
    DEFAULT_PAGE_SIZE,
    GetEndpoint,
    KeyedListEndpoint,
    ListEndpoint,
    SingletonEndpoint,
)
from ._write_endpoints import (
    DEFAULT_MODIFY_ATTEMPTS,
    ActionEndpoint,
    CreateEndpoint,
    DeleteAllEndpoint,
    DeleteEndpoint,
    ModifyEndpoint,
    PatchEndpoint,
    ReplaceEndpoint,
    as_request,
)

__all__ = [
    "DEFAULT_MODIFY_ATTEMPTS",
    "DEFAULT_PAGE_SIZE",
    "ActionEndpoint",
    "CreateEndpoint",
    "DeclaredOperation",
    "DeleteAllEndpoint",
    "DeleteEndpoint",
    "Endpoint",
    "GetEndpoint",
    "KeyedListEndpoint",
    "ListEndpoint",
    "ModifyEndpoint",
    "PatchEndpoint",
    "ReplaceEndpoint",
    "Resource",
    "SingletonEndpoint",
    "as_request",
    "declared_operations",
    "operation",
    "request_body",
]
