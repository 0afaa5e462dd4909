"""karbon_async: the asyncio SDK for the Karbon API v3.

import karbon_async as ka

async with ka.KarbonClient.from_env() as client:
    async for contact in client.contacts.list(filter=ka.F.FullName.contains("O'Brien")):
        print(contact.full_name)
"""

from ._budget import AccountBudget, Budget, BudgetSnapshot, Permit
from ._client import DEFAULT_BASE_URL, KarbonClient
from ._converter import structure, unstructure
from ._custom_fields import CustomFieldAccessor, custom_field_value, custom_field_values_request
from ._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ConnectError,
    EventLoopMismatchError,
    KarbonError,
    ModelDecodeError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
    UnsafeURLError,
)
from ._gc import auto_gc, tuned_gc
from ._hooks import (
    BudgetWaitEvent,
    Event,
    EventHook,
    RateLimitedEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from ._invoices import TaxLine, invoice_tax_lines
from ._limits import Lane, RateLimit
from ._misfits import Misfit
from ._model_base import UNSET, KarbonEnum, KarbonModel
from ._odata import F, Field, Filter
from ._pagination import Page, Paginator
from ._raw import RawResponse
from ._redis_budget import OnUnavailable, RedisBudget, account_id
from ._resources import ResourceSet
from ._retry import RetryPolicy
from ._statefile import BudgetStateFile, LocalWriteError
from ._transport import (
    AiohttpTransport,
    Request,
    Response,
    StreamedResponse,
    StreamingTransport,
    Timeout,
    Transport,
)
from ._version import __version__

__all__ = [
    "DEFAULT_BASE_URL",
    "UNSET",
    "APIStatusError",
    "AccountBudget",
    "AiohttpTransport",
    "AuthenticationError",
    "BadRequestError",
    "Budget",
    "BudgetStateFile",
    "BudgetSnapshot",
    "BudgetWaitEvent",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "CustomFieldAccessor",
    "Event",
    "EventHook",
    "EventLoopMismatchError",
    "F",
    "Field",
    "Filter",
    "KarbonClient",
    "KarbonEnum",
    "LocalWriteError",
    "KarbonError",
    "KarbonModel",
    "Lane",
    "Misfit",
    "NotFoundError",
    "Page",
    "PaginationError",
    "Paginator",
    "Permit",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RateLimitedEvent",
    "RawResponse",
    "RedisBudget",
    "OnUnavailable",
    "Request",
    "RequestEvent",
    "RequestTimeoutError",
    "ResourceSet",
    "Response",
    "ResponseEvent",
    "ModelDecodeError",
    "ResponseDecodeError",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "StreamedResponse",
    "StreamingTransport",
    "TaxLine",
    "Timeout",
    "Transport",
    "TransportError",
    "UnprocessableEntityError",
    "UnsafeURLError",
    "__version__",
    "account_id",
    "auto_gc",
    "custom_field_value",
    "custom_field_values_request",
    "invoice_tax_lines",
    "structure",
    "tuned_gc",
    "unstructure",
]
