"""Strict FakeKarbon: request bodies and parameters the spec forbids are refused with 400.

Valid documents per operation are mutated (wrong type, enum value outside the schema, missing
required property, over-long string, malformed date) along the generated contract; every
mutation must be refused in Karbon's error shape, and the unmutated document accepted.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from karbon_async._limits import RateLimit
from karbon_async.testing import FakeKarbon
from karbon_async.testing._generated_contract import CONTRACT

Doc = tuple[str, str, str, dict[str, Any]]  # (contract key, method, URL path, body)


def _first(fake: FakeKarbon, collection: str) -> str:
    return next(fake.collection(0, collection).keys())


def _email(fake: FakeKarbon) -> str:
    return str(next(fake.collection(0, "Users").records())["EmailAddress"])


def _work_item(fake: FakeKarbon) -> dict[str, Any]:
    return {
        "AssigneeEmailAddress": _email(fake),
        "Title": "FY2026 Individual Tax Return",
        "ClientKey": _first(fake, "Contacts"),
        "ClientType": "Contact",
        "StartDate": "2026-04-01T00:00:00Z",
        "DueDate": "2026-05-01T00:00:00Z",
        "PrimaryStatus": "Planned",
        "FeeSettings": {"FeeType": "FixedFee", "FeeValue": 500.0},
    }


# One valid document per operation, built from the fake's own data.
DOCS: dict[str, Callable[[FakeKarbon], Doc]] = {
    "POST /v3/WorkItems": lambda f: ("POST /v3/WorkItems", "POST", "/v3/WorkItems", _work_item(f)),
    "PUT /v3/WorkItems/{WorkItemKey}": lambda f: (
        "PUT /v3/WorkItems/{WorkItemKey}",
        "PUT",
        f"/v3/WorkItems/{_first(f, 'WorkItems')}",
        _work_item(f),
    ),
    "POST /v3/Contacts": lambda f: (
        "POST /v3/Contacts",
        "POST",
        "/v3/Contacts",
        {
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "RestrictionLevel": "Public",
            "BusinessCards": [
                {
                    "IsPrimaryCard": True,
                    "EmailAddresses": ["ada@example.com"],
                    "Addresses": [{"City": "London", "Label": "Home"}],
                }
            ],
        },
    ),
    "POST /v3/CustomFields": lambda f: (
        "POST /v3/CustomFields",
        "POST",
        "/v3/CustomFields",
        {"Name": "Fiscal Notes", "Type": "Text", "IsVisibleToContacts": True},
    ),
    "POST /v3/WorkSchedules": lambda f: (
        "POST /v3/WorkSchedules",
        "POST",
        "/v3/WorkSchedules",
        {
            "CreatedFromWorkItemKey": _first(f, "WorkItems"),
            "RecurrenceFrequency": "Month",
            "CustomFrequencyMultiple": 1,
            "ScheduleStartDate": "2026-01-01T00:00:00Z",
            "ScheduleDueDateMethod": "DaysFromStartDate",
            "PreventStartEndOnWeekend": False,
            "InitializeTasksBeforeStartDateUnits": "Days",
            "InitializeTasksBeforeStartDateMultiple": 0,
            "WorkItemTitleDefinition": "Monthly bookkeeping",
        },
    ),
}

_SAMPLES: list[Any] = ["text", 7, 2.5, True, [], {}, None]


def _fields(value: Any, schema: dict[str, Any], path: tuple[Any, ...]) -> Iterator[Any]:
    """(path, schema, value) of every value in the document that the contract describes."""
    yield path, schema, value
    if isinstance(value, dict):
        for name, item in value.items():
            sub = schema.get("properties", {}).get(name)
            if sub is not None:
                yield from _fields(item, sub, (*path, name))
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from _fields(item, schema["items"], (*path, i))


def _matches(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return kind == "number" or float(value).is_integer()
    return isinstance(value, {"string": str, "array": list, "object": dict}[kind])


def _mutations(body: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Every (kind, path, new value or MISSING) the contract forbids, for this document."""
    found: list[tuple[str, Any, Any]] = []
    for path, sub, value in _fields(body, schema, ()):
        if path and "type" in sub:
            for sample in _SAMPLES:
                if not any(_matches(sample, t) for t in sub["type"]):
                    found.append(("type", path, sample))
        if "enum" in sub and isinstance(value, str):
            found.append(("enum", path, value.lower() + " x"))
            spaced = value[:1] + " " + value[1:]
            found.append(("enum", path, spaced))
        if "maxLength" in sub:
            found.append(("length", path, "x" * (sub["maxLength"] + 1)))
        if sub.get("format") in ("date", "date-time"):
            found.extend((("date", path, "2026-13-45T00:00:00Z"), ("date", path, "next week")))
        if isinstance(value, dict):
            for name in sub.get("required", ()):
                found.append(("missing", (*path, name), MISSING))
    return found


MISSING = object()


def _apply(body: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    target: Any = out
    for part in path[:-1]:
        target = target[part]
    if new is MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return out


def _target(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


async def _send(fake: FakeKarbon, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, fake.base_url + path, json=body, headers=fake.accounts[0].headers
        ) as resp,
    ):
        return resp.status, (await resp.json() if resp.content_type.endswith("json") else None)


def _run(op: str, pick: Callable[[list[tuple[str, Any, Any]]], tuple[str, Any, Any]]) -> None:
    async def scenario() -> None:
        # The spec's contract to the letter: the allowances live Karbon makes beyond it
        # (free-text labels, optional nulls, ...) are replayed in test_live_behaviours.
        async with FakeKarbon(
            rate_limit=RateLimit(10_000, 1.0), size=8, spec_pedantic=True
        ) as fake:
            key, method, path, body = DOCS[op](fake)
            contract = CONTRACT[key]
            kind, where, new = pick(_mutations(body, contract["body"]))
            status, answer = await _send(fake, method, path, _apply(body, where, new))
            assert status == 400, (kind, where, new, answer)
            error = answer["error"]
            if contract["style"] == "model":
                assert (error["code"], error["message"]) == ("4003", "Invalid Model.")
                assert error["details"]["code"] == "InvalidProperty"
                assert error["details"]["target"] == f"{contract['entity']}.{_target(where)}"
            elif kind == "missing":
                expected = f"Required payload data is missing: {contract['entity']}"
                assert error == {"code": "4005", "message": expected}
            else:
                assert error["code"] == "4002"
                assert _target(where).split("[")[0] in error["message"]
            status, _ = await _send(fake, method, path, body)
            assert 200 <= status < 300, (op, status)

    asyncio.run(scenario())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(sorted(DOCS)), data=st.data())
def test_every_contract_violation_is_refused_and_the_valid_body_accepted(
    op: str, data: st.DataObject
) -> None:
    _run(op, lambda mutations: data.draw(st.sampled_from(mutations)))


def test_every_document_has_mutations_of_each_kind() -> None:
    """The property test above only means something if it can draw every kind of mutation."""
    kinds: set[str] = set()

    async def scenario() -> None:
        async with FakeKarbon(rate_limit=None, size=8) as fake:
            for op, make in DOCS.items():
                key, _method, _path, body = make(fake)
                assert key == op
                kinds.update(kind for kind, _, _ in _mutations(body, CONTRACT[key]["body"]))

    asyncio.run(scenario())
    assert kinds == {"type", "enum", "length", "date", "missing"}


async def _fee_type(fake: FakeKarbon, fee_type: str) -> tuple[int, Any]:
    work = _work_item(fake)
    work["FeeSettings"] = {"FeeType": fee_type}
    return await _send(fake, "POST", "/v3/WorkItems", work)


async def test_fixed_fee_spelled_as_the_spec_is_accepted_and_any_other_refused() -> None:
    async with FakeKarbon(rate_limit=None, size=8) as fake:
        status, body = await _fee_type(fake, "Fixed Fee")
        assert status == 400
        assert body["error"]["details"] == {
            "code": "InvalidProperty",
            "target": "workItem.FeeSettings.FeeType",
            "message": "FeeSettings.FeeType must be FixedFee, TimeAndMaterials, or NonBillable",
        }
        status, _ = await _fee_type(fake, "FixedFee")
        assert status == 201


async def test_lenient_fake_accepts_what_the_spec_forbids() -> None:
    async with FakeKarbon(rate_limit=None, size=8, strict=False) as fake:
        status, _ = await _fee_type(fake, "Fixed Fee")
        assert status == 201


async def test_path_parameter_outside_its_enum_gets_the_documented_answer() -> None:
    async with FakeKarbon(rate_limit=None, size=8) as fake:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{fake.base_url}/v3/WebhookSubscriptions/contact",
                headers=fake.accounts[0].headers,
            ) as resp,
        ):
            assert resp.status == 404
            body = await resp.json()
        assert body["error"]["code"] == "4004"
        assert body["error"]["message"].startswith(
            "No Webhook Type found for the provided WebhookType input value : contact."
        )
