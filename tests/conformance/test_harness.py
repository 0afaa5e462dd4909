"""The conformance harness's own logic, without Prism or Karbon's spec (runs in ``make test``)."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import attrs
import pytest
from _conformance_support import StubTransport, stub_client
from conformance.__main__ import judge, totals
from conformance.driver import (
    Outcome,
    RecordingTransport,
    call_operation,
    decode_problems,
    parse_violations,
    refused_rightly,
    variants,
)
from conformance.limits import KNOWN_LIMITS, Limit, limit_for, orderby_typos, tighten
from conformance.operations import CALLS, Call, Kind, bound_method
from conformance.spec import Spec

import karbon_async as ka

OPERATION_COUNT = 74  # README: "Every operation (74/74)"


def test_the_table_has_one_call_per_operation_and_each_method_exists() -> None:
    assert len(CALLS) == OPERATION_COUNT
    client = stub_client(StubTransport())
    for call in CALLS.values():
        assert callable(bound_method(client, call)), call.method
        for model in (call.request, call.response):
            assert model is None or isinstance(model, type)


def test_every_limit_names_an_operation_a_mode_and_a_symptom() -> None:
    for row in KNOWN_LIMITS:
        assert row.operation_id == "*" or row.operation_id in CALLS
        assert row.mode in ("static", "dynamic", "*")
        assert row.symptom.strip()
        assert row.reason.strip()


def test_limit_for_needs_the_mode_and_the_symptom_in_every_decode_problem() -> None:
    row = next(r for r in KNOWN_LIMITS if r.operation_id == "downloadFile")
    problem = f"decode: {row.symptom} GET /v3/Files"
    assert limit_for("downloadFile", "static", [problem]) == row
    assert limit_for("downloadFile", "dynamic", [problem]) == row
    assert limit_for("downloadFile", "static", [problem, "decode: lost key .x"]) is None
    assert limit_for("downloadFile", "static", ["request.body: bad"]) is None
    static = next(r for r in KNOWN_LIMITS if r.mode == "static")
    assert limit_for(static.operation_id, "static", [f"decode: {static.symptom}"]) == static
    assert limit_for(static.operation_id, "dynamic", [f"decode: {static.symptom}"]) is None


def test_parse_violations_reads_prisms_header() -> None:
    header = json.dumps(
        [{"location": ["request", "body", "Name"], "severity": "Error", "code": "required"}]
    )
    assert parse_violations(header)[0]["location"] == ["request", "body", "Name"]
    assert parse_violations(None) == []
    assert parse_violations("not json") == [{"location": ["?"], "message": "not json"}]


def _outcome(valid: bool, decoded: bool, op: str = "getAllContacts", problem: str = "") -> Outcome:
    return Outcome(op, "x", request_valid=valid, decoded=decoded, problems=[problem])


def test_a_limit_excuses_the_response_only() -> None:
    problem = "decode: ServerError: 500 GET /v3/Files"
    undecoded = _outcome(True, False, "downloadFile", problem)
    invalid = _outcome(False, False, "downloadFile", problem)
    used: set[Limit] = set()
    assert judge("static", [undecoded, invalid], used) == [invalid]
    assert undecoded.limit is not None
    assert [row.operation_id for row in used] == ["downloadFile"]


def test_a_decoded_response_needs_no_limit() -> None:
    passing = _outcome(True, True, "downloadFile")
    used: set[Limit] = set()
    assert judge("dynamic", [passing], used) == []
    assert passing.limit is None
    assert used == set()


def test_an_unexplained_decode_failure_fails() -> None:
    broken = _outcome(True, False, "getContactByID", "decode: ClassValidationError: x")
    assert judge("dynamic", [broken], set()) == [broken]
    assert broken.limit is None


def test_totals_count_valid_and_decoded() -> None:
    text = totals([_outcome(True, True), _outcome(True, False), _outcome(False, False)])
    assert text == "2/3 requests valid, 1/3 responses decoded"


SCHEMAS: dict[str, Any] = {
    "Thing": {
        "type": "object",
        "properties": {
            "Name": {"type": "string", "example": "Ada"},
            "When": {"type": "string", "format": "date-time"},
            "Kind": {"type": ["string", "null"], "enum": ["A", "B"]},
            "Count": {"type": "integer", "minimum": 3},
            "Tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
        },
    },
    "Tag": {"allOf": [{"properties": {"Label": {"type": "string"}}}, {"required": ["Label"]}]},
}


def _spec() -> Spec:
    return Spec(
        {
            "openapi": "3.1.0",
            "paths": {
                "/things/{ThingKey}": {
                    "put": {
                        "operationId": "putThing",
                        "parameters": [
                            {"name": "ThingKey", "in": "path", "schema": {"type": "string"}},
                        ],
                        "requestBody": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        },
                        "responses": {"404": {}, "204": {}},
                    }
                }
            },
            "components": {"schemas": SCHEMAS},
        }
    )


def test_synthesize_uses_examples_then_types_and_follows_refs() -> None:
    body = _spec().request_example("putThing")
    assert body == {
        "Name": "Ada",
        "When": "2024-01-02T03:04:05Z",
        "Kind": "A",
        "Count": 3,
        "Tags": [{"Label": "sample"}],
    }


def test_spec_finds_the_lowest_success_and_no_path_example() -> None:
    spec = _spec()
    assert spec.success_response("putThing") == ("204", None)
    assert spec.parameter_example("putThing", "path") is None
    bundled = spec.bundled({"$ref": "#/components/schemas/Thing"})
    assert bundled["$ref"] == "#/components/schemas/Thing"
    assert set(bundled["components"]["schemas"]) == {"Thing", "Tag"}


def test_bundled_reads_object_schemas_as_their_authors_meant() -> None:
    schema = {
        "properties": {
            "Url": {"type": "string", "required": True},
            "Note": {"type": "string", "required": False},
            "Inner": {"properties": {"A": {"type": "integer"}}},
        }
    }
    bundled = _spec().bundled(schema)
    assert bundled["type"] == "object"
    assert bundled["required"] == ["Url"]
    assert "required" not in bundled["properties"]["Note"]
    assert bundled["properties"]["Inner"]["type"] == "object"
    assert bundled["components"]["schemas"]["Tag"]["allOf"][1] == {
        "required": ["Label"],
        "type": "object",
    }
    assert "type" not in SCHEMAS["Tag"]["allOf"][1]  # the document itself is left alone


def test_recording_transport_never_leaves_the_prism_origin() -> None:
    transport = RecordingTransport("http://127.0.0.1:9")

    async def go() -> None:
        request = ka.Request(method="GET", url="https://api.karbonhq.com/v3/Files?token=t")
        await transport.send(request)

    with pytest.raises(ka.ConnectError, match="only to the Prism server"):
        asyncio.run(go())
    assert transport.exchanges == []


@attrs.frozen
class _Small:
    a: int


def test_a_lost_key_or_a_wrong_model_is_a_decode_problem() -> None:
    call = Call("getSmall", "small.get", Kind.GET, None, _Small)
    assert decode_problems(call, _Small(1), {"a": 1}) == []
    assert decode_problems(call, _Small(1), {"a": 1, "b": {"c": 2}}) == ["lost key .b"]
    assert decode_problems(call, "text", {"a": 1}) == ["returned str, not _Small"]


def _spec_for_lists() -> Spec:
    return Spec({"paths": {}, "components": {}})


def test_list_calls_read_one_item_so_no_next_link_is_followed() -> None:
    call = CALLS["getAllContacts"]
    assert call.kind is Kind.LIST
    raw = {
        "value": [{"ContactKey": "k1"}, {"ContactKey": "k2"}],
        "@odata.nextLink": "https://elsewhere.example/v3/Contacts?$skip=2",
    }
    transport = StubTransport(200, raw)

    async def go() -> Any:
        async with stub_client(transport) as client:
            return await call_operation(client, _spec_for_lists(), call)

    page = asyncio.run(go())
    assert [c.contact_key for c in page.items] == ["k1"]
    assert len(transport.requests) == 1


def test_variants_follow_the_enums_of_orderby_expand_and_count() -> None:
    def param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "schema": schema}

    parameters = [
        param(
            "$orderby", {"type": "string", "enum": ["FullName", "FullName desc", "FullNamedesc"]}
        ),
        param("$expand", {"type": "string", "enum": ["A,B"]}),
        param("$count", {"type": "boolean"}),
        param("$filter", {"type": "string"}),
    ]
    spec = Spec(
        {
            "paths": {
                "/v3/Contacts": {
                    "get": {"operationId": "getAllContacts", "parameters": parameters},
                    "post": {"operationId": "createContact", "parameters": parameters},
                }
            },
            "components": {},
        }
    )
    assert variants(spec, CALLS["getAllContacts"]) == [
        {"orderby": "FullName"},
        {"orderby": "FullName desc"},
        {"expand": ["A", "B"]},
        {"count": True},
    ]
    assert orderby_typos(spec, "getAllContacts") == ["FullNamedesc"]  # a lost space: not sent
    assert variants(spec, CALLS["createContact"]) == []


def test_a_variant_is_sent_as_the_sdk_writes_it() -> None:
    transport = StubTransport(200, {"value": []})

    async def go() -> None:
        async with stub_client(transport) as client:
            await call_operation(
                client, _spec_for_lists(), CALLS["getAllContacts"], {"count": True}
            )

    asyncio.run(go())
    assert (
        "%24count=true" in transport.requests[0].url or "$count=true" in transport.requests[0].url
    )


def _one_operation(operation_id: str, path: str, method: str, responses: Any) -> Spec:
    return Spec(
        {
            "paths": {path: {method: {"operationId": operation_id, "responses": responses}}},
            "components": {"schemas": SCHEMAS},
        }
    )


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


NOTE = {"type": "object", "properties": {"Id": {"type": "string"}, "Body": {"type": "string"}}}
CONTACTS = {
    "type": "object",
    "properties": {
        "value": {"type": "array", "items": {"properties": {"ContactKey": {"type": "string"}}}}
    },
}
PAYMENTS = {
    "type": "object",
    "properties": {
        "values": {
            "type": "array",
            "items": {"properties": {"PaymentKey": {"type": "string"}}},
        }
    },
}


def test_tighten_requires_the_record_key_of_the_response_model_and_of_list_items() -> None:
    spec = _spec()
    note = tighten(spec.bundled(NOTE), "getNoteByNoteKey", request=False)
    assert note["required"] == ["Id"]
    contacts = tighten(spec.bundled(CONTACTS), "getAllContacts", request=False)
    assert contacts["properties"]["value"]["items"]["required"] == ["ContactKey"]
    assert "required" not in contacts
    # A payment may come without its key (the spec's own example has none): not tightened.
    payments = tighten(spec.bundled(PAYMENTS), "getPayments", request=False)
    assert "required" not in payments["properties"]["values"]["items"]
    referenced = tighten(
        spec.bundled({"$ref": "#/components/schemas/Thing"}), "getNoteByNoteKey", request=False
    )
    assert referenced["required"] == ["Id"]
    assert "required" not in referenced["components"]["schemas"]["Thing"]  # this use only
    assert "required" not in NOTE  # the document itself is left alone


def test_tighten_adds_the_prose_request_facts() -> None:
    schema = {
        "type": "object",
        "properties": {"BillableValue": {"type": "number"}, "TargetUrl": {"type": "string"}},
    }
    expense = tighten(_spec().bundled(schema), "createExpense", request=True)
    assert expense["properties"]["BillableValue"]["minimum"] == 0
    webhook = tighten(_spec().bundled(schema), "createWebhookSubscription", request=True)
    assert "TargetUrl" in webhook["required"]
    untouched = tighten(_spec().bundled(schema), "createNote", request=True)
    assert untouched["properties"] == schema["properties"]
    assert "required" not in untouched


def test_a_refused_body_is_excused_only_when_it_breaks_the_schema_or_the_tightening() -> None:
    # The key required OpenAPI 2 style, as the spec does: Spec.bundled reads it so.
    schema = copy.deepcopy(PAYMENTS)
    schema["properties"]["values"]["items"]["properties"]["PaymentKey"]["required"] = True
    payments = _one_operation("getPayments", "/v3/Payments", "get", {"200": _json(schema)})
    spec_defect = refused_rightly(payments, "getPayments", 200, {"value": [{}]})
    assert spec_defect is not None
    assert spec_defect.startswith("spec: ")
    assert "PaymentKey" in spec_defect  # "value" is checked as the schema's "values"
    assert refused_rightly(payments, "getPayments", 200, {"value": [{"PaymentKey": "P"}]}) is None
    assert refused_rightly(payments, "getPayments", 500, {"value": [{}]}) is None

    notes = _one_operation("getNoteByNoteKey", "/v3/Notes/{NoteID}", "get", {"200": _json(NOTE)})
    wrong_type = refused_rightly(notes, "getNoteByNoteKey", 200, {"Body": 1})
    assert wrong_type is not None
    assert wrong_type.startswith("spec: ")
    only_tightened = refused_rightly(notes, "getNoteByNoteKey", 200, {"Body": "b"})
    assert only_tightened is not None
    assert only_tightened.startswith("sdk: ")
    assert refused_rightly(notes, "getNoteByNoteKey", 200, {"Id": "n", "Body": "b"}) is None


def test_a_rightly_refused_body_is_no_failure_but_an_invalid_request_still_is() -> None:
    refused = _outcome(True, False, "getPayments", "decode: ModelDecodeError: x")
    refused.excused = "spec: values/0: 'PaymentKey' is a required property"
    invalid = _outcome(False, False, "getPayments", "decode: ModelDecodeError: x")
    invalid.excused = refused.excused
    assert judge("static", [refused, invalid], set()) == [invalid]
    assert totals([refused]) == (
        "1/1 requests valid, 0/1 responses decoded (1 rightly refused, see limits.py)"
    )
