"""Property tests against Karbon's OpenAPI document (hypothesis-jsonschema, jsonschema 2020-12).

For every operation: instances of its success response schema decode, through the SDK's own
method, into the model the operation documents, losing no key; and every request body the SDK
sends for an instance of the request schema validates against that schema. Both schemas are
first tightened as the SDK deliberately does (``conformance.limits.tighten``). Needs the document:
``KARBON_SPEC=path/to/KarbonAPI.json`` (``make conformance`` sets it); skipped without it.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from _conformance_support import StubTransport, stub_client
from conformance.driver import call_operation, decode_problems, describe_error, path_key
from conformance.limits import schema_errors, tighten
from conformance.operations import CALLS, Call, Kind, bound_method
from conformance.spec import Spec
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis_jsonschema import from_schema
from spec_check import examples_of

import karbon_async as ka

SPEC_PATH = os.environ.get("KARBON_SPEC")
if not SPEC_PATH:
    pytest.skip(
        "conformance: set KARBON_SPEC=path/to/KarbonAPI.json (make conformance does)",
        allow_module_level=True,
    )
SPEC = Spec.load(SPEC_PATH)
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
    # Shrinking a failure through these schemas takes minutes; the first failing instance is
    # reported as drawn, which keeps the whole module near a minute.
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
    verbosity=Verbosity.quiet,  # the instance, shortened, is in each failure's message
)
# Random text in @odata.nextLink is valid by the schema, but a link is something to follow, not
# to decode: the paginator refuses one that is not on the client's origin (tested with
# FakeKarbon), so generated instances go without it.
NOT_DECODED = ("@odata.nextLink",)


def _brief(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _success(operation_id: str) -> tuple[int, dict[str, Any] | None]:
    found = SPEC.success_response(operation_id)
    assert found is not None, f"{operation_id} has no success response"
    status, media = found
    return int(status), (media or {}).get("schema")


RESPONSE_OPS = sorted(
    op
    for op, call in CALLS.items()
    if op in SPEC.operations and call.response is not None and _success(op)[1] is not None
)
REQUEST_OPS = sorted(
    op
    for op, call in CALLS.items()
    if op in SPEC.operations
    and call.request is not None
    and (SPEC.request_media(op) or ("", {}))[0] == "application/json"
)


def test_every_spec_operation_has_a_harness_call() -> None:
    assert set(SPEC.operations) == set(CALLS)


def _run(call: Call, transport: StubTransport) -> Any:
    async def go() -> Any:
        async with stub_client(transport) as client:
            return await call_operation(client, SPEC, call)

    return asyncio.run(go())


@pytest.mark.parametrize("operation_id", RESPONSE_OPS)
def test_response_schema_instances_decode(operation_id: str) -> None:
    call = CALLS[operation_id]
    status, schema = _success(operation_id)
    assert schema is not None

    @PROPERTY_SETTINGS
    @given(instance=from_schema(tighten(SPEC.bundled(schema), operation_id, request=False)))
    def check(instance: Any) -> None:
        if isinstance(instance, dict):
            instance = {k: v for k, v in instance.items() if k not in NOT_DECODED}
        try:
            result = _run(call, StubTransport(status, instance))
        except Exception as exc:
            raise AssertionError(
                f"{operation_id}: {type(exc).__name__}: {describe_error(exc)}; "
                f"body {_brief(instance)}"
            ) from None
        problems = decode_problems(call, result, instance)
        assert not problems, f"{operation_id}: {problems}; body {_brief(instance)}"

    check()


def _request_reply(operation_id: str) -> tuple[int, Any]:
    """A success answer the SDK accepts, so the call completes after sending its body."""
    status, schema = _success(operation_id)
    found = SPEC.success_response(operation_id)
    media = found[1] if found else None
    body = next((body for _, body in examples_of(SPEC.document, media)), None) if media else None
    if body is None and schema is not None:
        body = SPEC.synthesize(schema)
    return status, body


@pytest.mark.parametrize("operation_id", REQUEST_OPS)
def test_request_bodies_validate(operation_id: str) -> None:
    call = CALLS[operation_id]
    assert call.request is not None
    _, media = SPEC.request_media(operation_id) or ("", {})
    schema = tighten(SPEC.bundled(media["schema"]), operation_id, request=True)
    status, reply = _request_reply(operation_id)

    @PROPERTY_SETTINGS
    @given(instance=from_schema(schema))
    def check(instance: Any) -> None:
        try:
            model = ka.structure(instance, call.request)
        except Exception as exc:
            raise AssertionError(
                f"{call.request.__name__} cannot hold a valid request: {describe_error(exc)}; "
                f"body {_brief(instance)}"
            ) from None
        transport = StubTransport(status, reply)
        _send_model(call, model, transport)
        assert transport.requests, "nothing was sent"
        sent = json.loads(transport.requests[0].body or b"null")
        errors = schema_errors(schema, sent, limit=5)
        assert not errors, f"{operation_id}: {errors}; sent {_brief(sent)}"

    check()


def _send_model(call: Call, model: Any, transport: StubTransport) -> None:
    """Send ``model`` with the call's method; the answer does not matter here."""

    async def go() -> None:
        async with stub_client(transport) as client:
            method = bound_method(client, call)
            key = path_key(SPEC, call.operation_id)
            try:
                if call.kind is Kind.CREATE:
                    await method(model)
                else:
                    await method(key, model)
            except ka.KarbonError:
                pass  # e.g. the stub's reply did not decode: the request is what is checked

    asyncio.run(go())
