"""The client end to end against FakeKarbon: limits counted by the server, pagination, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import karbon_async as ka
from karbon_async.testing import FakeAccount, FakeKarbon, Fault


def client_for(
    fake: FakeKarbon, account: FakeAccount, limit: ka.RateLimit, **options: object
) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token=account.bearer_token,
        access_key=account.access_key,
        base_url=fake.base_url,
        rate_limit=limit,
        **options,  # type: ignore[arg-type]
    )


async def fetch_some(client: ka.KarbonClient, keys: list[str]) -> None:
    for key in keys:
        await client.contacts.get(key)


def contact_keys(fake: FakeKarbon, account: int, count: int) -> list[str]:
    store = fake.accounts[account].collection("Contacts")
    return [store.key_of(i) for i in range(count)]


LIMIT = ka.RateLimit(8, 1.0)


async def test_limit_holds_at_arrival_under_latency_jitter() -> None:
    async with FakeKarbon(rate_limit=LIMIT, latency=(0.0, 0.08), size=50) as fake:
        keys = contact_keys(fake, 0, 30)
        async with client_for(fake, fake.accounts[0], LIMIT) as client:
            await asyncio.gather(*(fetch_some(client, keys[i::6]) for i in range(6)))
        account = fake.accounts[0]
        assert account.rejected_429 == 0
        assert len(account.arrivals) == 30
        assert account.max_in_window() <= LIMIT.requests


async def test_limit_holds_with_retries_counted() -> None:
    async with FakeKarbon(rate_limit=LIMIT, latency=(0.0, 0.03), size=50) as fake:
        fake.add_fault(Fault.status(503), account=0, count=6)
        keys = contact_keys(fake, 0, 16)
        retry = ka.RetryPolicy(base_delay=0.01, max_delay=0.05)
        async with client_for(fake, fake.accounts[0], LIMIT, retry=retry) as client:
            await asyncio.gather(*(fetch_some(client, keys[i::4]) for i in range(4)))
        account = fake.accounts[0]
        assert len(account.arrivals) == 22, "16 requests and 6 retries"
        assert account.rejected_429 == 0
        assert account.max_in_window() <= LIMIT.requests


async def test_two_clients_with_the_same_credentials_share_one_budget() -> None:
    async with FakeKarbon(rate_limit=LIMIT, latency=(0.0, 0.03), size=50) as fake:
        keys = contact_keys(fake, 0, 24)
        account = fake.accounts[0]
        async with (
            client_for(fake, account, LIMIT) as first,
            client_for(fake, account, LIMIT) as second,
        ):
            assert first.budget is second.budget
            await asyncio.gather(fetch_some(first, keys[:12]), fetch_some(second, keys[12:]))
        assert account.rejected_429 == 0
        assert account.max_in_window() <= LIMIT.requests


async def test_accounts_do_not_wait_on_each_other() -> None:
    limit = ka.RateLimit(3, 5.0)
    async with FakeKarbon(accounts=2, rate_limit=limit, size=20) as fake:
        busy_keys = contact_keys(fake, 0, 6)
        free_keys = contact_keys(fake, 1, 3)
        async with (
            client_for(fake, fake.accounts[0], limit) as busy,
            client_for(fake, fake.accounts[1], limit) as free,
        ):
            backlog = asyncio.ensure_future(fetch_some(busy, busy_keys))
            await asyncio.sleep(0.2)  # the busy account has spent its window and waits
            assert busy.budget.snapshot().waiting[ka.Lane.INTERACTIVE] == 1
            await asyncio.wait_for(fetch_some(free, free_keys), timeout=3.0)
            assert not backlog.done()
            backlog.cancel()
            with pytest.raises(asyncio.CancelledError):
                await backlog
        assert fake.accounts[1].rejected_429 == 0


async def test_a_429_makes_one_shared_pause_of_at_least_retry_after() -> None:
    limit = ka.RateLimit(100, 1.0)
    async with FakeKarbon(rate_limit=limit, size=50) as fake:
        fake.add_fault(Fault.rate_limited(retry_after=1), account=0, count=1)
        keys = contact_keys(fake, 0, 20)
        async with client_for(fake, fake.accounts[0], limit) as client:
            await asyncio.gather(*(fetch_some(client, keys[i::5]) for i in range(5)))
            assert client.budget.snapshot().rate_limited == 1
        account = fake.accounts[0]
        assert account.rejected_429 == 1
        assert len(account.arrivals) == 21
        first = account.arrivals[0]
        later = [t for t in account.arrivals[1:] if t > first + 0.001]
        # Everything sent after the 429 arrived waits out the whole Retry-After.
        resumed = [t for t in later if t - first < 1.0]
        in_flight_at_429 = 4  # the other workers' first requests were already on their way
        assert len(resumed) <= in_flight_at_429


async def test_pages_stream_every_record_once_with_count() -> None:
    async with FakeKarbon(rate_limit=None, size=250) as fake:
        async with client_for(fake, fake.accounts[0], ka.RateLimit(1000, 1.0)) as client:
            pages = [page async for page in client.contacts.list().pages()]
            keys = [contact.contact_key async for contact in client.contacts.list(page_size=40)]
        assert [len(page.items) for page in pages] == [100, 100, 50]
        assert pages[0].count == 250
        assert pages[-1].next_link is None
        assert len(keys) == len(set(keys)) == 250


async def test_max_items_resume_and_typed_models() -> None:
    async with FakeKarbon(rate_limit=None, size=120) as fake:
        async with client_for(fake, fake.accounts[0], ka.RateLimit(1000, 1.0)) as client:
            first_ten = await client.contacts.list(max_items=10).to_list()
            assert len(first_ten) == 10
            assert await client.contacts.list().first() == first_ten[0]
            pages = client.contacts.list(page_size=50).pages()
            first_page = await pages.__anext__()
            await pages.aclose()
            assert first_page.next_link is not None
            rest = await client.contacts.list(resume_from=first_page.next_link).to_list()
            assert len(first_page.items) + len(rest) == 120
            contact = await client.contacts.get(first_ten[0].contact_key or "")
        assert isinstance(contact, ka.KarbonModel)
        assert contact.last_modified_date_time is not None
        assert contact.last_modified_date_time.tzinfo is not None
        assert first_ten[0].last_modified_date_time.utcoffset() == dt.timedelta(0)  # type: ignore[union-attr]


async def test_filter_values_reach_the_server_intact() -> None:
    async with FakeKarbon(rate_limit=None, size=300) as fake:
        async with client_for(fake, fake.accounts[0], ka.RateLimit(1000, 1.0)) as client:
            names = [c.full_name or "" async for c in client.contacts.list()]
            quoted = next(name for name in names if "'" in name)
            found = await client.contacts.list(filter=ka.F.FullName == quoted).to_list()
            by_part = await client.contacts.list(
                filter=ka.F.FullName.contains(quoted[-4:]), orderby="FullName"
            ).to_list()
        assert {c.full_name for c in found} == {quoted}
        assert quoted in {c.full_name for c in by_part}
        assert [c.full_name for c in by_part] == sorted(c.full_name or "" for c in by_part)


async def test_page_size_over_the_limit_is_refused_before_sending() -> None:
    async with FakeKarbon(rate_limit=None) as fake:
        async with client_for(fake, fake.accounts[0], ka.RateLimit(10, 1.0)) as client:
            with pytest.raises(ValueError, match="exceeds the limit of 100"):
                client.contacts.list(page_size=101)
            with pytest.raises(ValueError):
                await client.contacts.get("a/../b")
        assert fake.accounts[0].arrivals == []


async def test_errors_carry_status_code_and_message() -> None:
    async with FakeKarbon(rate_limit=None) as fake:
        async with client_for(fake, fake.accounts[0], ka.RateLimit(10, 1.0)) as client:
            with pytest.raises(ka.NotFoundError) as missing:
                await client.contacts.get("NoSuchKey123")
        async with ka.KarbonClient(
            bearer_token="wrong", access_key="wrong", base_url=fake.base_url
        ) as stranger:
            with pytest.raises(ka.AuthenticationError) as denied:
                await stranger.contacts.get("NoSuchKey123")
    assert missing.value.status == 404
    assert missing.value.code == "4004"
    assert missing.value.method == "GET"
    assert denied.value.status == 401


@pytest.fixture
async def foreign_link_server() -> AsyncIterator[str]:
    """A real server whose first page points its nextLink at another origin."""
    hits: list[str] = []

    async def first_page(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.json_response(
            {"value": [], "@odata.nextLink": "http://127.0.0.2:9/v3/Contacts?$skip=100"}
        )

    app = web.Application()
    app.router.add_get("/v3/Contacts", first_page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
    assert len(hits) == 1


async def test_foreign_next_link_raises_before_sending(foreign_link_server: str) -> None:
    async with ka.KarbonClient(
        bearer_token="t", access_key="k", base_url=foreign_link_server
    ) as client:
        with pytest.raises(ka.UnsafeURLError, match="refusing to send credentials"):
            await client.contacts.list().to_list()


async def test_interactive_lane_goes_first_through_the_client() -> None:
    limit = ka.RateLimit(2, 0.5)
    async with FakeKarbon(rate_limit=limit, size=20) as fake:
        keys = contact_keys(fake, 0, 8)
        order: list[str] = []
        async with client_for(fake, fake.accounts[0], limit) as client:
            bulk = client.with_options(lane=ka.Lane.BULK)

            async def bulk_get(key: str) -> None:
                await bulk.contacts.get(key)
                order.append("bulk")

            async def interactive_get(key: str) -> None:
                await client.contacts.get(key)
                order.append("interactive")

            tasks = [asyncio.ensure_future(bulk_get(k)) for k in keys[:6]]
            await asyncio.sleep(0.05)
            tasks.append(asyncio.ensure_future(interactive_get(keys[6])))
            await asyncio.gather(*tasks)
        assert order.index("interactive") <= 2
        assert fake.accounts[0].rejected_429 == 0


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KARBON_BEARER_TOKEN", raising=False)
    monkeypatch.setenv("KARBON_ACCESS_KEY", "key")
    with pytest.raises(ka.ConfigurationError, match="KARBON_BEARER_TOKEN"):
        ka.KarbonClient.from_env()
    monkeypatch.setenv("KARBON_BEARER_TOKEN", "secret-token")
    monkeypatch.setenv("KARBON_BASE_URL", "http://127.0.0.1:1")
    client = ka.KarbonClient.from_env()
    assert client.base_url == "http://127.0.0.1:1"
    assert "secret" not in repr(client)


async def test_a_truncated_body_on_a_get_is_fetched_again() -> None:
    async with FakeKarbon(rate_limit=None, size=150) as fake:
        fake.add_fault(Fault.malformed_json(), account=0, count=1, path="/v3/Contacts")
        async with client_for(
            fake, fake.accounts[0], ka.RateLimit(100, 1.0), retry=ka.RetryPolicy(base_delay=0.01)
        ) as client:
            keys = [c.contact_key async for c in client.contacts.list()]
        assert len(keys) == len(set(keys)) == 150
        assert len(fake.accounts[0].arrivals) == 3, "two pages and one repeated"
