"""FakeKarbon over real HTTP: auth, paging, OData options, the rate-limit window and faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from karbon_async._limits import RateLimit
from karbon_async.testing import FakeAccount, FakeKarbon, Fault

FIVE_PER_SECOND = RateLimit(5, 1.0)
GENEROUS = RateLimit(10_000, 1.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeKarbon]:
    async with FakeKarbon(accounts=2, rate_limit=GENEROUS, seed=7, size=250) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def get(
    session: aiohttp.ClientSession,
    fake: FakeKarbon,
    path: str,
    params: dict[str, str] | None = None,
    *,
    account: FakeAccount | None = None,
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """GET and decode; ``path`` may also be an absolute URL (a nextLink)."""
    url = path if path.startswith("http") else fake.base_url + path
    headers = (account or fake.accounts[0]).headers
    async with session.get(url, headers=headers, params=params) as resp:
        return resp.status, await resp.json(), resp.headers


# --------------------------------------------------------------------------- auth


async def test_missing_credentials_get_jwt_not_present(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    acct = fake.accounts[0]
    for headers in (
        {},
        {"Authorization": f"Bearer {acct.bearer_token}"},
        {"AccessKey": acct.access_key},
    ):
        async with session.get(f"{fake.base_url}/v3/Contacts", headers=headers) as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "error": {"statusCode": "401", "message": "JWT not present."}
            }
    assert fake.unauthenticated == 3
    assert acct.requests == 0
    assert acct.arrivals == []


async def test_wrong_or_swapped_credentials_are_invalid(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    a, b = fake.accounts
    cases = [
        {"Authorization": f"Bearer {a.bearer_token}", "AccessKey": b.access_key},
        {"Authorization": f"Bearer {a.access_key}", "AccessKey": a.bearer_token},
        {"Authorization": "Bearer 550e8400-e29b-41d4-a716-446655440000", "AccessKey": a.access_key},
        {"Authorization": f"Basic {a.bearer_token}", "AccessKey": a.access_key},
    ]
    for headers in cases:
        async with session.get(f"{fake.base_url}/v3/TenantSettings", headers=headers) as resp:
            assert resp.status == 401
            body = await resp.json()
            assert body == {"error": {"statusCode": "401", "message": "Invalid credentials"}}
    assert a.requests == b.requests == 0


def test_credentials_look_like_karbons() -> None:
    fake = FakeKarbon(accounts=2, seed=1)
    acct = fake.accounts[0]
    assert len(acct.bearer_token) == 36
    assert acct.bearer_token.count("-") == 4
    assert acct.access_key.startswith("eyJ")
    assert acct.access_key.count(".") == 2
    assert fake.accounts[0].bearer_token != fake.accounts[1].bearer_token
    assert FakeKarbon(seed=1).accounts[0].access_key == acct.access_key


# --------------------------------------------------------------------------- lists


async def test_paging_with_next_link_yields_every_record_once(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    expected = list(fake.collection(0, "Contacts").keys())
    assert len(expected) == 250
    seen: list[str] = []
    url = "/v3/Contacts"
    pages = 0
    while url:
        status, body, _ = await get(session, fake, url)
        assert status == 200
        assert body["@odata.count"] == 250
        assert body["@odata.context"].endswith(
            "/v3/$metadata#Contacts/KarbonService.ContactSummaryDTO"
        )
        seen += [item["ContactKey"] for item in body["value"]]
        url = body.get("@odata.nextLink", "")
        assert not url or url.startswith(fake.base_url + "/v3/Contacts?")
        pages += 1
    assert pages == 3
    assert seen == expected


async def test_next_link_keeps_filter_and_order(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    flt = "contains(FullName,'o') and ContactType eq 'Client'"
    status, body, _ = await get(
        session, fake, "/v3/Contacts", {"$filter": flt, "$orderby": "FullName desc", "$top": "7"}
    )
    assert status == 200
    total = body["@odata.count"]
    names = [v["FullName"] for v in body["value"]]
    url = body.get("@odata.nextLink")
    while url:
        status, body, _ = await get(session, fake, url)
        assert status == 200
        assert body["@odata.count"] == total
        names += [v["FullName"] for v in body["value"]]
        url = body.get("@odata.nextLink")
    assert len(names) == total > 7
    assert all("o" in n.lower() for n in names)
    assert [n.casefold() for n in names] == sorted((n.casefold() for n in names), reverse=True)


async def test_top_over_limit_is_rejected(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    status, body, _ = await get(session, fake, "/v3/WorkItems", {"$top": "130"})
    assert status == 400
    assert body == {
        "error": {
            "code": "4002",
            "message": "The limit of '100' for Top query has been exceeded. "
            "The value from the incoming request is '130'.",
        }
    }
    status, body, _ = await get(session, fake, "/v3/WorkItems", {"$top": "-1"})
    assert status == 400
    assert body["error"]["code"] == "4002"


async def test_top_and_skip(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    keys = list(fake.collection(0, "Organizations").keys())
    status, body, _ = await get(session, fake, "/v3/Organizations", {"$top": "5", "$skip": "245"})
    assert [v["OrganizationKey"] for v in body["value"]] == keys[245:]
    assert "@odata.nextLink" not in body
    status, body, _ = await get(session, fake, "/v3/Organizations", {"$skip": "400"})
    assert status == 200
    assert body["value"] == []
    assert body["@odata.count"] == 250
    status, body, _ = await get(
        session, fake, "/v3/Organizations", {"$count": "false", "$top": "1"}
    )
    assert "@odata.count" not in body


async def test_filter_over_http(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    store = fake.collection(0, "Contacts")
    first = store.summary(next(store.keys()))
    assert first is not None
    name = first["FullName"]
    status, body, _ = await get(
        session,
        fake,
        "/v3/Contacts",
        {"$filter": f"FullName eq '{name.replace(chr(39), chr(39) * 2)}'"},
    )
    assert status == 200
    assert first["ContactKey"] in [v["ContactKey"] for v in body["value"]]
    assert all(v["FullName"].casefold() == name.casefold() for v in body["value"])
    # apostrophes escaped by doubling, and FullName is case-insensitive
    status, body, _ = await get(
        session, fake, "/v3/Contacts", {"$filter": "contains(FullName,'O''BRIEN')"}
    )
    assert status == 200
    assert body["value"]
    assert all("o'brien" in v["FullName"].lower() for v in body["value"])
    status, body, _ = await get(
        session,
        fake,
        "/v3/WorkItems",
        {"$filter": "PrimaryStatus in ('In Progress','Waiting') and StartDate ge 2024-01-01"},
    )
    assert status == 200
    assert body["value"]
    assert all(v["PrimaryStatus"] in ("In Progress", "Waiting") for v in body["value"])
    assert all(v["StartDate"] >= "2024-01-01" for v in body["value"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"$filter": "FullName eq"}, "Syntax error"),
        (
            {"$filter": "Nope eq 'x'"},
            "Could not find a property named 'Nope' on type 'KarbonService.ContactSummaryDTO'.",
        ),
        (
            {"$orderby": "Salutation"},
            "The property 'Salutation' cannot be used in the $orderby query option.",
        ),
        ({"$select": "FullName"}, "Query option 'Select' is not allowed."),
        ({"$expand": "BusinessCards"}, "Query option 'Expand' is not allowed."),
    ],
)
async def test_bad_query_options_give_4002(
    fake: FakeKarbon, session: aiohttp.ClientSession, params: dict[str, str], message: str
) -> None:
    status, body, _ = await get(session, fake, "/v3/Contacts", params)
    assert status == 400
    assert body["error"]["code"] == "4002"
    assert message in body["error"]["message"]


# --------------------------------------------------------------------------- single records


async def test_single_get_expand_and_404(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    store = fake.collection(0, "Contacts")
    key = next(store.keys())
    status, body, _ = await get(session, fake, f"/v3/Contacts/{key}")
    assert status == 200
    assert body["@odata.type"] == "#KarbonService.ContactDTO"
    assert body["ContactKey"] == key
    assert "BusinessCards" not in body
    assert body["LastModifiedDateTime"][-9:-1].startswith(".")
    assert len(body["LastModifiedDateTime"]) == 28
    status, body, _ = await get(session, fake, f"/v3/Contacts/{key}", {"$expand": "BusinessCards"})
    assert body["BusinessCards"][0]["EntityKey"] == key
    assert body == {
        "@odata.context": f"{fake.base_url}/v3/$metadata#Contacts/KarbonService.ContactDTO/$entity",
        "@odata.type": "#KarbonService.ContactDTO",
        **{
            k: v
            for k, v in (store.get(key) or {}).items()
            if k not in ("ClientTeam", "ClientAccess")
        },
    }
    # Contacts take the plural only (ClientGroups the singular); unknown expansions are a 400
    status, body, _ = await get(session, fake, f"/v3/Contacts/{key}", {"$expand": "BusinessCard"})
    assert status == 400
    assert "Could not find a property named 'BusinessCard'" in body["error"]["message"]
    status, body, _ = await get(session, fake, f"/v3/Contacts/{key}", {"$expand": "Nope"})
    assert status == 400
    assert body["error"]["code"] == "4002"
    # OData key syntax works too
    status, _, _ = await get(session, fake, f"/v3/Contacts('{key}')")
    assert status == 200
    status, body, _ = await get(session, fake, "/v3/Contacts/NOPE12345678")
    assert status == 404
    assert body == {"error": {"code": "4004", "message": "No Contact found for provided key"}}
    status, body, _ = await get(session, fake, "/v3/WorkItems/abc")
    assert body == {"error": {"code": "4004", "message": "No Work Item found for provided key"}}
    # a key of another account does not resolve
    other = next(fake.collection(1, "Contacts").keys())
    status, _, _ = await get(session, fake, f"/v3/Contacts/{other}")
    assert status == 404


async def test_lookup_by_user_defined_identifier(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    store = fake.collection(0, "Organizations")
    record = store.get(list(store.keys())[17])
    assert record is not None
    udi = record["UserDefinedIdentifier"]
    path = (
        f"/v3/Organizations/GetOrganizationByUserDefinedIdentifier(UserDefinedIdentifier='{udi}')"
    )
    status, body, _ = await get(session, fake, path)
    assert status == 200
    assert body["OrganizationKey"] == record["OrganizationKey"]
    path = "/v3/Contacts/GetContactByUserDefinedIdentifier(UserDefinedIdentifier='O''BRIEN-1')"
    status, body, _ = await get(session, fake, path)
    assert status == 404
    assert body["error"] == {
        "code": "4004",
        "message": "No Contact found for provided UserDefinedIdentifer",
    }


async def test_primary_status_is_spaced_in_lists_only(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    status, body, _ = await get(
        session, fake, "/v3/WorkItems", {"$filter": "PrimaryStatus eq 'In Progress'", "$top": "3"}
    )
    assert status == 200
    assert body["value"]
    item = body["value"][0]
    assert item["PrimaryStatus"] == "In Progress"
    status, single, _ = await get(session, fake, f"/v3/WorkItems/{item['WorkItemKey']}")
    assert single["PrimaryStatus"] == "InProgress"
    assert single["@odata.type"] == "#KarbonService.WorkItemDTO"
    status, body, _ = await get(
        session, fake, "/v3/WorkItems", {"$filter": "PrimaryStatus eq 'ReadyToStart'"}
    )
    assert body["value"] == []


async def test_users_and_tenant_settings(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    status, body, _ = await get(session, fake, "/v3/Users")
    assert status == 200
    assert body["@odata.context"] == f"{fake.base_url}/v3/$metadata#Users"
    user = body["value"][0]
    assert set(user) == {"Id", "Name", "EmailAddress"}
    status, single, _ = await get(session, fake, f"/v3/Users/{user['Id']}")
    assert single["@odata.type"] == "#KarbonService.UserProfileDTO"
    assert single["Name"] == user["Name"]
    assert "Permissions" in single
    status, settings, _ = await get(session, fake, "/v3/TenantSettings")
    assert status == 200
    assert {
        "TenantKey",
        "ContactTypes",
        "WorkTypes",
        "WorkStatuses",
        "ClientAccessActivated",
    } <= set(settings)
    status, body, _ = await get(session, fake, "/v3/Nonsense")
    assert status == 404
    assert body["error"]["code"] == "4002"


async def test_same_seed_same_data_different_seed_different() -> None:
    async with (
        FakeKarbon(seed=3, size=20) as a,
        FakeKarbon(seed=3, size=20) as b,
        FakeKarbon(seed=4, size=20) as c,
    ):
        bodies = []
        async with aiohttp.ClientSession() as session:
            for fake in (a, b, c):
                status, body, _ = await get(session, fake, "/v3/WorkItems")
                assert status == 200
                bodies.append(body["value"])
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


async def test_writes_are_overlays(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    store = fake.collection(0, "Contacts")
    keys = list(store.keys())
    record = store.get(keys[3])
    assert record is not None
    record["FirstName"] = "Renamed"
    store.put(keys[3], record)
    store.delete(keys[4])
    new_key = store.create({**record, "FirstName": "Brand", "LastName": "New"})
    assert store.count == 250
    status, body, _ = await get(session, fake, "/v3/Contacts", {"$skip": "3", "$top": "2"})
    assert [v["ContactKey"] for v in body["value"]] == [keys[3], keys[5]]
    assert body["value"][0]["FullName"].startswith("Renamed ")
    status, _, _ = await get(session, fake, f"/v3/Contacts/{keys[4]}")
    assert status == 404
    status, body, _ = await get(session, fake, "/v3/Contacts", {"$skip": "249"})
    assert [v["ContactKey"] for v in body["value"]] == [new_key]
    assert body["value"][0]["FullName"] == "Brand New"
    # another account is untouched
    assert fake.collection(1, "Contacts").count == 250


async def test_a_million_records_page_lazily(session: aiohttp.ClientSession) -> None:
    async with FakeKarbon(size=1_000_000, rate_limit=None) as fake:
        store = fake.collection(0, "WorkItems")
        started = time.perf_counter()
        status, body, _ = await get(session, fake, "/v3/WorkItems", {"$skip": "999950"})
        assert status == 200
        assert body["@odata.count"] == 1_000_000
        assert len(body["value"]) == 50
        assert "@odata.nextLink" not in body
        last = body["value"][-1]["WorkItemKey"]
        status, _single, _ = await get(session, fake, f"/v3/WorkItems/{last}")
        assert status == 200
        assert time.perf_counter() - started < 2.0
        assert store.get(last) is not None


# --------------------------------------------------------------------------- rate limit


async def test_window_rejects_exactly_the_excess(session: aiohttp.ClientSession) -> None:
    async with FakeKarbon(accounts=2, rate_limit=FIVE_PER_SECOND) as fake:
        acct = fake.accounts[0]
        results = await asyncio.gather(
            *(get(session, fake, "/v3/TenantSettings") for _ in range(8))
        )
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200] * 5 + [429] * 3
        for status, body, headers in results:
            if status == 429:
                retry_after = int(headers["Retry-After"])
                assert retry_after >= 1
                assert body == {
                    "statusCode": "429",
                    "message": f"Rate limit is exceeded. Try again in {retry_after} seconds.",
                }
        assert acct.requests == 8
        assert acct.rejected_429 == 3
        assert len(acct.arrivals) == 8
        assert acct.arrivals == sorted(acct.arrivals)
        assert acct.max_in_window() == 8
        assert len(acct.request_log) == 8
        assert acct.request_log[0][1:] == (
            "GET",
            "/v3/TenantSettings",
        )
        # the other account has its own window
        other = await asyncio.gather(
            *(get(session, fake, "/v3/Users", account=fake.accounts[1]) for _ in range(5))
        )
        assert [s for s, _, _ in other] == [200] * 5
        # once the oldest accepted arrival leaves the window a request is accepted again
        await asyncio.sleep(1.0 - (time.monotonic() - acct.arrivals[0]) + 0.02)
        status, _, _ = await get(session, fake, "/v3/TenantSettings")
        assert status == 200


async def test_max_in_window_counts_a_paced_client(session: aiohttp.ClientSession) -> None:
    async with FakeKarbon(rate_limit=RateLimit(4, 0.5)) as fake:
        for _ in range(8):
            status, _, _ = await get(session, fake, "/v3/TenantSettings")
            assert status == 200
            await asyncio.sleep(0.13)
        acct = fake.accounts[0]
        assert acct.rejected_429 == 0
        assert acct.max_in_window() <= 4
        assert acct.max_in_window(per=10.0) == 8


async def test_rate_limit_none_disables(session: aiohttp.ClientSession) -> None:
    async with FakeKarbon(rate_limit=None) as fake:
        results = await asyncio.gather(
            *(get(session, fake, "/v3/TenantSettings") for _ in range(30))
        )
        assert {s for s, _, _ in results} == {200}


# --------------------------------------------------------------------------- faults


async def test_status_fault_matches_account_method_path_and_count(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    rule = fake.add_fault(Fault.status(503), account=0, count=2, method="GET", path="/v3/Contacts")
    status, _, _ = await get(session, fake, "/v3/Users")
    assert status == 200
    status, _, _ = await get(session, fake, "/v3/Contacts", account=fake.accounts[1])
    assert status == 200
    for _ in range(2):
        status, body, _ = await get(session, fake, "/v3/Contacts")
        assert status == 503
        assert body["error"]["code"] == "5001"
        assert body["error"]["message"].startswith("Unexpected Internal Error.")
    status, _, _ = await get(session, fake, "/v3/Contacts")
    assert status == 200
    assert rule.hits == 2
    assert rule.remaining == 0


async def test_rate_limited_fault(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault.rate_limited(retry_after=2), account=0)
    status, body, headers = await get(session, fake, "/v3/Contacts")
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert body == {
        "statusCode": "429",
        "message": "Rate limit is exceeded. Try again in 2 seconds.",
    }
    assert fake.accounts[0].rejected_429 == 1
    assert fake.accounts[0].requests == 1


async def test_disconnect_fault(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    # aiohttp itself retries an idempotent request once when the connection drops, so the
    # fault has to hit both attempts for the error to surface.
    rule = fake.add_fault(Fault.disconnect(), path="/v3/Contacts", count=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await get(session, fake, "/v3/Contacts")
    assert rule.hits == 2
    status, _, _ = await get(session, fake, "/v3/Contacts")
    assert status == 200
    assert fake.accounts[0].requests == 3


async def test_delay_fault_triggers_client_timeout_and_close_is_fast(
    session: aiohttp.ClientSession,
) -> None:
    fake = FakeKarbon()
    await fake.start()
    try:
        fake.add_fault(Fault.delay(5.0))
        timeout = aiohttp.ClientTimeout(total=0.2)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(
                f"{fake.base_url}/v3/TenantSettings",
                headers=fake.accounts[0].headers,
                timeout=timeout,
            ) as resp:
                await resp.read()
        assert time.monotonic() - started < 1.0
    finally:
        started = time.monotonic()
        await fake.close()
        assert time.monotonic() - started < 1.5
    await fake.close()  # idempotent


async def test_delay_fault_then_normal_answer(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    fake.add_fault(Fault.delay(0.2))
    started = time.monotonic()
    status, _, _ = await get(session, fake, "/v3/TenantSettings")
    assert status == 200
    assert time.monotonic() - started >= 0.2


async def test_malformed_json_fault(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault.malformed_json(), method="GET")
    async with session.get(
        f"{fake.base_url}/v3/Contacts", headers=fake.accounts[0].headers
    ) as resp:
        assert resp.status == 200
        text = await resp.text()
    assert text.startswith('{"@odata.context"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


async def test_latency_applies_after_arrival_is_recorded(session: aiohttp.ClientSession) -> None:
    async with FakeKarbon(latency=(0.1, 0.12), seed=5) as fake:
        started = time.monotonic()
        status, _, _ = await get(session, fake, "/v3/TenantSettings")
        done = time.monotonic()
        assert status == 200
        assert done - started >= 0.1
        arrival = fake.accounts[0].arrivals[0]
        assert started <= arrival <= done - 0.1


async def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="accounts"):
        FakeKarbon(accounts=0)
    with pytest.raises(ValueError, match="latency"):
        FakeKarbon(latency=(0.5, 0.1))
    with pytest.raises(ValueError, match="unknown collections"):
        FakeKarbon(sizes={"Nope": 1})
