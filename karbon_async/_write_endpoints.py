"""Descriptors that write: create (POST), record actions (POST), replace (PUT), patch, delete,
and ``modify`` (GET, change, PUT, retried on 409)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

import attrs

from ._converter import api_name, structure, unstructure, without_nulls
from ._endpoint import Endpoint, Resource, request_body, send
from ._exceptions import ConflictError
from ._generated._spec_types import OperationSpec
from ._limits import Lane
from ._read_endpoints import GetEndpoint
from ._retry import RetryRule, retry
from ._sender import decode_reply

M = TypeVar("M")
B = TypeVar("B")
R = TypeVar("R")

PREFER_REPRESENTATION = {"Prefer": "return=representation"}


class _WriteEndpoint(Endpoint, Generic[B, R]):
    """A write with a request model; ``response`` is the model of the answer's body, or None when
    the API answers 204 (or its body is of no use). ``read_back``: where a PATCH may answer 204
    although the record was asked for, the GET that fetches it instead."""

    methods: tuple[str, ...] = ("POST",)

    def __init__(
        self, spec: OperationSpec[B, R], *, read_back: GetEndpoint[Any] | None = None
    ) -> None:
        super().__init__(spec)
        if spec.method not in self.methods:
            raise TypeError(f"{type(self).__name__} cannot send {spec.method} {spec.path}")
        self.body: type[B] = self.model_of("request_model")
        self.response: type[R] | None = spec.response_model
        self.headers = PREFER_REPRESENTATION if spec.prefer_representation else None
        self.read_back = read_back

    async def _write(
        self, resource: Resource, key: str | None, body: B, lane: Lane | None
    ) -> R | None:
        document = request_body(self, body, self.body)
        reply = await send(
            self, resource, key=key, json_body=document, lane=lane, headers=self.headers
        )
        if self.response is None:
            return None
        if not reply.body.strip() and self.read_back is not None and key is not None:
            get = self.read_back.__get__(resource, type(resource))
            return structure(unstructure(await get(key, lane=lane)), self.response)
        return decode_reply(reply, self.method, self.response)


class CreateEndpoint(_WriteEndpoint[B, R]):
    """POST a request model to a collection (or an unkeyed action such as
    ``ReverseManualPayment``)."""

    @classmethod
    def of(cls, spec: OperationSpec[B, R]) -> CreateEndpoint[B, R]:
        return cls(spec)

    @overload
    def __get__(self, resource: None, owner: type) -> CreateEndpoint[B, R]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> CreateMethod[B, R]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> CreateEndpoint[B, R] | CreateMethod[B, R]:
        return self if resource is None else CreateMethod(self, resource)


class CreateMethod(Generic[B, R]):
    def __init__(self, endpoint: CreateEndpoint[B, R], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"POST a {endpoint.body.__name__} ({endpoint.operation_id})."

    async def __call__(self, body: B, *, lane: Lane | None = None) -> R:
        result = await self._endpoint._write(self._resource, None, body, lane)
        return result  # type: ignore[return-value]  # None exactly when R is None


class _KeyedWriteEndpoint(_WriteEndpoint[B, R]):
    @overload
    def __get__(self, resource: None, owner: type) -> _KeyedWriteEndpoint[B, R]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> KeyedWriteMethod[B, R]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> _KeyedWriteEndpoint[B, R] | KeyedWriteMethod[B, R]:
        return self if resource is None else KeyedWriteMethod(self, resource)


class ActionEndpoint(_KeyedWriteEndpoint[B, None]):
    """POST a request model to an action of one record (``Teams/{key}/AddMembers``); 204."""

    @classmethod
    def of(cls, spec: OperationSpec[B, None]) -> ActionEndpoint[B]:
        return cls(spec)


class ReplaceEndpoint(_KeyedWriteEndpoint[B, None]):
    """PUT: replace the whole record (fields left out may be cleared; see ``ModifyEndpoint``)."""

    methods = ("PUT",)

    @classmethod
    def of(cls, spec: OperationSpec[B, None]) -> ReplaceEndpoint[B]:
        return cls(spec)


class PatchEndpoint(_KeyedWriteEndpoint[B, R]):
    """PATCH: only the fields set on the model are sent (``UNSET`` ones are left out, ``None``
    clears). Where the API honours ``Prefer: return=representation`` it is sent and the updated
    record returned; should the API answer 204 anyway, ``read_back`` fetches it."""

    methods = ("PATCH",)

    @classmethod
    def of(
        cls, spec: OperationSpec[B, R], *, read_back: GetEndpoint[Any] | None = None
    ) -> PatchEndpoint[B, R]:
        return cls(spec, read_back=read_back)


class KeyedWriteMethod(Generic[B, R]):
    """``await method(key, body)``: a PUT, PATCH or record action."""

    def __init__(self, endpoint: _WriteEndpoint[B, R], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = (
            f"{endpoint.method} a {endpoint.body.__name__} to one record ({endpoint.operation_id})."
        )

    async def __call__(self, key: str, body: B, *, lane: Lane | None = None) -> R:
        result = await self._endpoint._write(self._resource, key, body, lane)
        return result  # type: ignore[return-value]  # None exactly when R is None


class DeleteEndpoint(Endpoint):
    """DELETE one record by key; 204."""

    @classmethod
    def of(cls, spec: OperationSpec[None, None]) -> DeleteEndpoint:
        return cls(spec)

    @overload
    def __get__(self, resource: None, owner: type) -> DeleteEndpoint: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> DeleteMethod: ...
    def __get__(self, resource: Resource | None, owner: type) -> DeleteEndpoint | DeleteMethod:
        return self if resource is None else DeleteMethod(self, resource)


class DeleteMethod:
    def __init__(self, endpoint: DeleteEndpoint, resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"Delete one record ({endpoint.operation_id})."

    async def __call__(self, key: str, *, lane: Lane | None = None) -> None:
        await send(self._endpoint, self._resource, key=key, lane=lane)


class DeleteAllEndpoint(Endpoint):
    """DELETE a whole collection (``/v3/WebhookSubscriptions``); 204."""

    @classmethod
    def of(cls, spec: OperationSpec[None, None]) -> DeleteAllEndpoint:
        return cls(spec)

    @overload
    def __get__(self, resource: None, owner: type) -> DeleteAllEndpoint: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> DeleteAllMethod: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> DeleteAllEndpoint | DeleteAllMethod:
        return self if resource is None else DeleteAllMethod(self, resource)


class DeleteAllMethod:
    def __init__(self, endpoint: DeleteAllEndpoint, resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"Delete every record ({endpoint.operation_id})."

    async def __call__(self, *, lane: Lane | None = None) -> None:
        await send(self._endpoint, self._resource, lane=lane)


DEFAULT_MODIFY_ATTEMPTS = 3
CONFLICT_DELAY = (0.1, 2.0)
"""Backoff between conflict retries (base, cap), full jitter: writers that collided on a
record do not collide again in step."""


def _is_write_conflict(error: BaseException, attempts: int) -> bool:
    return isinstance(error, ConflictError) and error.code in (None, "4020")


@functools.lru_cache(maxsize=16)
def conflict_rule(attempts: int) -> RetryRule:
    """``modify``'s rule: a 409 (code 4020, or none) is refetched and reapplied, ``attempts``
    times in all, with jittered backoff (0.1 s doubled, at most 2 s: 0.1 + 0.2 = 0.3 s of
    waiting at most for the default 3 attempts). Nothing else is retried here: the GET and PUT
    inside are retried by the request path, which never retries a 409. Worst case, failures of
    different kinds alternating: ``attempts`` x (GET + PUT, each up to the policy's
    ``max_attempts``), then one GET."""
    return RetryRule(
        "modify conflict",
        _is_write_conflict,
        max_attempts=attempts,
        base_delay=CONFLICT_DELAY[0],
        max_delay=CONFLICT_DELAY[1],
    )


class ModifyEndpoint(Generic[M, B]):
    """``modify(key, fn)``: GET the record, turn it into the PUT body, apply ``fn`` to it (an
    attrs model: use ``attrs.evolve``), PUT it; on 409 (code 4020, someone else wrote first)
    refetch and reapply after a jittered wait, at most ``attempts`` times in all (see
    ``conflict_rule``). Not an operation of its own: it is
    made of the resource's ``get`` and ``update``.

    The record's fields that the PUT body does not have (keys, timestamps) are left out; fields
    this SDK does not know are sent back as they came, so a PUT does not clear them.

    Returns the record (``M``, what ``get`` returns), fetched again after the PUT: the PUT answers
    204, and a record built from the first GET and the sent body would carry a stale
    ``LastModifiedDateTime`` and miss whatever the server derives from the change. One more GET
    buys the record as the server now has it."""

    def __init__(
        self,
        get: GetEndpoint[M],
        update: ReplaceEndpoint[B],
        *,
        attempts: int = DEFAULT_MODIFY_ATTEMPTS,
    ) -> None:
        self.get = get
        self.update = update
        self.attempts = attempts

    @overload
    def __get__(self, resource: None, owner: type) -> ModifyEndpoint[M, B]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> ModifyMethod[M, B]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> ModifyEndpoint[M, B] | ModifyMethod[M, B]:
        return self if resource is None else ModifyMethod(self, resource)


def as_request(record: object, body_model: type[B]) -> B:
    """The PUT body that would write ``record`` back unchanged."""
    document = unstructure(record)
    body_keys = {api_name(field) for field in attrs.fields(body_model)}  # type: ignore[arg-type]
    record_keys = {api_name(field) for field in attrs.fields(type(record))}  # type: ignore[arg-type]
    kept = {
        key: value
        for key, value in document.items()
        if key in body_keys or key not in record_keys  # unknown to the SDK: kept
    }
    return structure(without_nulls(kept, body_model), body_model)


class ModifyMethod(Generic[M, B]):
    def __init__(self, endpoint: ModifyEndpoint[M, B], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = (
            f"GET, apply fn, PUT, GET the record ({endpoint.get.operation_id} + "
            f"{endpoint.update.operation_id}), retried on 409."
        )

    async def __call__(self, key: str, fn: Callable[[B], B], *, attempts: int | None = None) -> M:
        endpoint = self._endpoint
        limit = endpoint.attempts if attempts is None else attempts
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"attempts must be a positive integer, got {limit!r}")
        get = endpoint.get.__get__(self._resource, type(self._resource))
        update = endpoint.update.__get__(self._resource, type(self._resource))

        async def attempt() -> None:
            current = as_request(await get(key), endpoint.update.body)
            changed = fn(current)
            if not isinstance(changed, endpoint.update.body):
                raise TypeError(
                    f"fn must return a {endpoint.update.body.__name__}, "
                    f"got {type(changed).__name__}"
                )
            await update(key, changed)

        await retry(attempt, conflict_rule(limit))
        return await get(key)
