"""FakeKarbon answers as the live API does where the spec is silent: every row of the live
behaviour table is replayed (its examples, or a named scenario) and must get the live status and
message."""

from __future__ import annotations

import re
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbon_async._generated import models
from karbon_async.testing import FakeKarbon
from karbon_async.testing._live_behaviours import (
    ACCOUNTING_INTEGERS,
    BEHAVIOURS,
    Example,
    LiveBehaviour,
)
from karbon_async.testing._odata import FilterPolicy, ODataError, compile_filter

_PLACEHOLDER = re.compile(r"\{(udi:)?(\w+)\}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeKarbon]:
    async with FakeKarbon(rate_limit=None, seed=5, size=40) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def resolve(fake: FakeKarbon, value: Any) -> Any:
    """Replace the table's placeholders with this fake's data."""
    if isinstance(value, dict):
        return {k: resolve(fake, v) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(2) == "user":
            return str(next(fake.collection(0, "Users").records())["EmailAddress"])
        store = fake.collection(0, m.group(2))
        key = next(store.keys())
        if m.group(1):
            record = store.get(key)
            assert record is not None
            return str(record["UserDefinedIdentifier"])
        return key

    return _PLACEHOLDER.sub(one, value)


def at_path(body: Any, path: str) -> Any:
    for part in path.split("."):
        assert isinstance(body, dict), (path, body)
        assert part in body, (path, body)
        body = body[part]
    return body


async def send(
    session: aiohttp.ClientSession,
    fake: FakeKarbon,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    url = fake.base_url + "/v3/" + path
    all_headers = {**fake.accounts[0].headers, **(headers or {})}
    async with session.request(method, url, params=query, json=body, headers=all_headers) as resp:
        raw = await resp.read()
        return resp.status, (await resp.json() if raw else None)


EXAMPLES = [
    pytest.param(row, example, id=f"{row.id}-{n}")
    for row in BEHAVIOURS
    for n, example in enumerate(row.examples)
]


@pytest.mark.parametrize(("row", "example"), EXAMPLES)
async def test_example_gets_the_live_answer(
    fake: FakeKarbon, session: aiohttp.ClientSession, row: LiveBehaviour, example: Example
) -> None:
    status, body = await send(
        session,
        fake,
        example.method,
        resolve(fake, example.path),
        query=resolve(fake, dict(example.query)),
        body=resolve(fake, example.body),
        headers=dict(example.headers),
    )
    assert status == row.status, body
    if row.message is not None:
        assert body["error"]["code"] == "4002"
        assert row.message in body["error"]["message"]
    for path, expected in example.expect.items():
        assert at_path(body, path) == resolve(fake, expected)


# --------------------------------------------------------------------------- scenarios


async def work_type_from_template(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    settings = fake.accounts[0].data.tenant_settings()
    type_names = {w["WorkTypeKey"]: w["Name"] for w in settings["WorkTypes"]}
    template = next(fake.collection(0, "WorkTemplates").records())
    inherited = type_names[template["WorkTypeKey"]]
    other = next(name for name in type_names.values() if name != inherited)
    work = {
        "AssigneeEmailAddress": resolve(fake, "{user}"),
        "Title": "From a template",
        "ClientKey": resolve(fake, "{Contacts}"),
        "ClientType": "Contact",
        "StartDate": "2021-07-11",
        "WorkTemplateKey": template["WorkTemplateKey"],
    }
    status, body = await send(session, fake, "POST", "WorkItems", body=work)
    assert status == 201
    assert body["WorkType"] == inherited
    status, body = await send(session, fake, "POST", "WorkItems", body={**work, "WorkType": other})
    assert status == 201
    assert body["WorkType"] == other
    status, body = await send(session, fake, "GET", f"WorkItems/{body['WorkItemKey']}")
    assert body["WorkType"] == other
    no_template = {k: v for k, v in work.items() if k != "WorkTemplateKey"}
    status, body = await send(session, fake, "POST", "WorkItems", body=no_template)
    assert status == 201
    assert body["WorkType"] is None


def _is_guid(value: Any) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (TypeError, ValueError):
        return False


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


async def business_card_entry_keys(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    contact = resolve(fake, "{Contacts}")
    status, body = await send(
        session, fake, "GET", f"Contacts/{contact}", query={"$expand": "BusinessCards"}
    )
    card = body["BusinessCards"][0]
    status, card = await send(session, fake, "GET", f"BusinessCards/{card['BusinessCardKey']}")
    assert status == 200
    old_address, old_phone = card["Addresses"][0], card["PhoneNumbers"][0]
    assert _is_guid(old_address["AddressKey"])
    assert _is_guid(old_phone["PhoneNumberKey"])
    new_address = {k: v for k, v in old_address.items() if k != "AddressKey"}
    new_phone = {"Number": "555-0100", "CountryCode": "AU", "Label": "Mobile"}
    # What the SDK sends back: no @odata keys, no nulls the GET returned.
    sent = _without_nulls({k: v for k, v in card.items() if not k.startswith("@")})
    old_address, old_phone = _without_nulls(old_address), _without_nulls(old_phone)
    sent["Addresses"] = [new_address | {"City": "Hobart"}, old_address]
    sent["PhoneNumbers"] = [new_phone, old_phone]
    status, _ = await send(
        session, fake, "PUT", f"BusinessCards/{card['BusinessCardKey']}", body=sent
    )
    assert status == 204
    status, after = await send(session, fake, "GET", f"BusinessCards/{card['BusinessCardKey']}")
    fresh_address, kept_address = after["Addresses"]
    fresh_phone, kept_phone = after["PhoneNumbers"]
    assert kept_address == old_address
    assert kept_phone == old_phone
    assert fresh_address["City"] == "Hobart"
    assert _is_guid(fresh_address["AddressKey"])
    assert _is_guid(fresh_phone["PhoneNumberKey"])
    assert fresh_address["AddressKey"] != old_address["AddressKey"]
    assert fresh_phone["PhoneNumberKey"] != old_phone["PhoneNumberKey"]
    # a second PUT of new entries mints keys again, never one used before
    sent["Addresses"] = [new_address]
    status, _ = await send(
        session, fake, "PUT", f"BusinessCards/{card['BusinessCardKey']}", body=sent
    )
    status, again = await send(session, fake, "GET", f"BusinessCards/{card['BusinessCardKey']}")
    used = {old_address["AddressKey"], fresh_address["AddressKey"]}
    assert again["Addresses"][0]["AddressKey"] not in used


SCENARIOS: dict[str, Callable[[FakeKarbon, aiohttp.ClientSession], Awaitable[None]]] = {
    "work-type-from-template": work_type_from_template,
    "business-card-entry-keys": business_card_entry_keys,
}


@pytest.mark.parametrize("row_id", sorted(SCENARIOS))
async def test_scenario_gets_the_live_answer(
    fake: FakeKarbon, session: aiohttp.ClientSession, row_id: str
) -> None:
    await SCENARIOS[row_id](fake, session)


def test_every_row_is_replayed_and_sourced() -> None:
    ids = [row.id for row in BEHAVIOURS]
    assert len(ids) == len(set(ids))
    assert {row.id for row in BEHAVIOURS if not row.examples} == set(SCENARIOS)
    assert all(row.source.strip() for row in BEHAVIOURS)


def test_accounting_integers_are_the_integer_properties_of_the_spec() -> None:
    hints = typing.get_type_hints(models.DetailsOfAccounting)
    integer_fields = {
        "".join(part.title() for part in f.name.split("_"))
        for f in attrs.fields(models.DetailsOfAccounting)
        if "int" in str(hints[f.name])
    }
    assert integer_fields == set(ACCOUNTING_INTEGERS)


async def test_orderby_is_applied_on_the_newly_allowed_field(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    status, body = await send(
        session, fake, "GET", "WorkTemplates", query={"$orderby": "WorkTypeKey desc", "$top": "10"}
    )
    assert status == 200
    keys = [item["WorkTypeKey"] for item in body["value"]]
    assert keys == sorted(keys, key=str.casefold, reverse=True)


# --------------------------------------------------------------------------- the engine

_NOTHING = FilterPolicy(frozenset({"and"}), frozenset())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("When ne 'x'", "Logical operator 'NotEqual' is not allowed"),
        ("When gt 'x'", "Logical operator 'GreaterThan' is not allowed"),
        ("not (When eq 'x')", "Logical operator 'Not' is not allowed"),
        ("tolower(When) eq 'x'", "Function 'tolower' is not allowed"),
        ("month(When) eq 1", "Function 'month' is not allowed"),
        ("Tags/any(t: t eq 'x')", "Function 'any' is not allowed"),
    ],
)
def test_policy_refuses_what_it_does_not_list(text: str, message: str) -> None:
    policy = FilterPolicy(frozenset({"eq", "and"}), frozenset())
    with pytest.raises(ODataError, match=re.escape(message)):
        compile_filter(text, ("When", "Tags"), "X", policy=policy)


def test_unknown_property_is_reported_before_the_policy() -> None:
    with pytest.raises(ODataError, match="Could not find a property named 'Nope'"):
        compile_filter("startswith(Nope, 'a')", ("When",), "X", policy=_NOTHING)


_INSTANTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 12, 31)).map(
    lambda d: d.replace(microsecond=d.microsecond // 100 * 100)
)


@given(when=_INSTANTS, offset_hours=st.integers(-12, 14))
def test_date_parts_are_utc_components(when: datetime, offset_hours: int) -> None:
    """``day/month/year/hour(Field)`` read the UTC instant, whatever offset the value has."""
    zone = timezone(timedelta(hours=offset_hours))
    local = when.replace(tzinfo=timezone.utc).astimezone(zone)
    text = local.isoformat().replace("+00:00", "Z")
    record = {"When": text}
    for part in ("year", "month", "day", "hour", "minute", "second"):
        expected = getattr(when, part)
        assert compile_filter(f"{part}(When) eq {expected}", ("When",), "X")(record)
        assert not compile_filter(f"{part}(When) eq {expected + 100}", ("When",), "X")(record)
    assert not compile_filter("day(When) eq 1", ("When",), "X")({"When": None})
