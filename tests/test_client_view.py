"""``client.with_options(...)``: a full client view on the same session, budget and hooks."""

from __future__ import annotations

from typing import Any

import pytest

import karbon_async as ka
from karbon_async.testing import FakeKarbon, Fault


def client_of(fake: FakeKarbon, **options: Any) -> ka.KarbonClient:
    account = fake.accounts[0]
    return ka.KarbonClient(
        bearer_token=account.bearer_token,
        access_key=account.access_key,
        base_url=fake.base_url,
        **options,
    )


def contact_key(fake: FakeKarbon) -> str:
    return str(next(iter(fake.collection(0, "Contacts").keys())))


async def test_a_view_has_the_whole_client_surface_on_the_same_session_and_budget() -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake, client_of(fake) as client:
        key = contact_key(fake)
        view = client.with_options(timeout=5)
        assert isinstance(view, ka.KarbonClient)
        assert view.base_url == client.base_url
        raw = await view.with_raw_response.contacts.get(key)
        assert raw.status == 200
        assert view.budget is client.budget
        assert view._transport is client._transport
        again = view.with_options(lane=ka.Lane.BULK)
        assert isinstance(again, ka.KarbonClient)
        assert again.budget is client.budget
        assert (await again.contacts.get(key)).contact_key == key
        assert client.budget.snapshot().granted == 2  # both views' requests, one budget


async def test_a_view_made_before_the_loop_runs_shares_the_budget_resolved_later() -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        client = client_of(fake)
        view = client.with_options(retry=ka.RetryPolicy(max_attempts=2))  # budget not resolved
        async with client:
            await view.contacts.get(contact_key(fake))
            assert client.budget is view.budget
            assert client.budget.snapshot().granted == 1


async def test_closing_a_view_leaves_the_shared_session_open() -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake, client_of(fake) as client:
        key = contact_key(fake)
        async with client.with_options(timeout=5) as view:
            await view.contacts.get(key)
        await view.aclose()
        assert (await client.contacts.get(key)).contact_key == key
        assert (await view.contacts.get(key)).contact_key == key


async def test_a_view_changes_lane_retry_and_timeout_for_its_calls_only() -> None:
    seen: list[ka.RequestEvent] = []
    async with (
        FakeKarbon(rate_limit=None, size=3) as fake,
        client_of(fake, event_hooks={"request": [seen.append]}) as client,
    ):
        key = contact_key(fake)
        view = client.with_options(lane=ka.Lane.BULK, retry=ka.RetryPolicy(max_attempts=1))
        failing = fake.add_fault(Fault.status(503), count=None, method="GET")
        with pytest.raises(ka.ServerError):
            await view.contacts.get(key)
        assert failing.hits == 1  # the view's policy: one attempt
        assert [event.lane for event in seen] == [ka.Lane.BULK]  # the same hooks
        fake.clear_faults()
        seen.clear()
        await view.with_options(timeout=5).contacts.get(key)  # the lane is inherited
        await client.contacts.get(key)
        assert [event.lane for event in seen] == [ka.Lane.BULK, ka.Lane.INTERACTIVE]


async def test_a_view_may_replace_the_hooks() -> None:
    client_events: list[object] = []
    view_events: list[object] = []
    async with (
        FakeKarbon(rate_limit=None, size=3) as fake,
        client_of(fake, on_event=client_events.append) as client,
    ):
        view = client.with_options(on_event=view_events.append)
        await view.contacts.get(contact_key(fake))
    assert view_events
    assert not client_events


async def test_the_constructor_takes_a_default_lane_too() -> None:
    seen: list[ka.RequestEvent] = []
    async with (
        FakeKarbon(rate_limit=None, size=3) as fake,
        client_of(fake, lane=ka.Lane.BULK, event_hooks={"request": [seen.append]}) as client,
    ):
        await client.contacts.get(contact_key(fake))
        await client.with_options(retry=ka.RetryPolicy()).contacts.get(contact_key(fake))
    assert [event.lane for event in seen] == [ka.Lane.BULK, ka.Lane.BULK]


def test_options_that_name_another_account_or_connection_are_refused() -> None:
    client = ka.KarbonClient(bearer_token="t", access_key="k")
    for option in ("base_url", "bearer_token", "budget", "session", "proxy"):
        with pytest.raises(TypeError):
            client.with_options(**{option: None})
