"""Bad input fails at the call with a typed error, before anything is sent."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_request_building import RecordingTransport, client_with, ok

import karbon_async as ka
from karbon_async import F
from karbon_async._read_endpoints import GetEndpoint, ListEndpoint
from karbon_async._resources import RESOURCES
from karbon_async._retry import MAX_ATTEMPTS
from karbon_async._urls import MAX_KEY_LENGTH


@pytest.fixture
def recorded() -> tuple[ka.KarbonClient, RecordingTransport]:
    transport = RecordingTransport()
    return client_with(transport), transport


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (None, TypeError),
        (5, TypeError),
        ("k" * (MAX_KEY_LENGTH + 1), ValueError),
        ("k" * 10_000, ValueError),
        (" key", ValueError),
        ("key\u200b", ValueError),  # zero-width space: a format character
        ("key\u2028", ValueError),
        ("key\udc80", ValueError),
    ],
)
async def test_bad_keys_fail_before_sending(
    recorded: tuple[ka.KarbonClient, RecordingTransport], key: Any, error: type[Exception]
) -> None:
    client, transport = recorded
    with pytest.raises(error):
        await client.contacts.get(key)
    with pytest.raises(error):
        await client.contacts.get_by_user_defined_identifier(key)
    assert transport.sent == []


async def test_the_longest_key_is_sent(
    recorded: tuple[ka.KarbonClient, RecordingTransport],
) -> None:
    client, transport = recorded
    transport.handler = lambda request: ok(request, {"ContactKey": "k"})
    await client.contacts.get("k" * MAX_KEY_LENGTH)
    assert len(transport.sent) == 1


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.contacts.list(filter=F["FullName\n"] == "x"), ValueError),
        (lambda c: c.contacts.list(orderby=[1]), ValueError),
        (lambda c: c.contacts.list(orderby="FullName\nasc"), ValueError),
        (lambda c: c.contacts.list(expand="Business\nCards"), ValueError),
        (lambda c: c.contacts.list(count="no"), TypeError),
        (lambda c: c.contacts.list(count=1), TypeError),
        (lambda c: c.contacts.list(lane=7), TypeError),
        (lambda c: c.contacts.list(lane="bulk"), TypeError),
        (lambda c: c.with_options(lane=1), TypeError),
    ],
)
def test_bad_options_fail_at_the_call(
    recorded: tuple[ka.KarbonClient, RecordingTransport], call: Any, error: type[Exception]
) -> None:
    client, transport = recorded
    with pytest.raises(error):
        call(client)
    assert transport.sent == []


async def test_a_bad_lane_fails_on_a_single_record_call(
    recorded: tuple[ka.KarbonClient, RecordingTransport],
) -> None:
    client, transport = recorded
    with pytest.raises(TypeError, match="lane"):
        await client.contacts.get("key", lane=7)  # type: ignore[arg-type]
    assert transport.sent == []


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(["max_attempts", "base_delay", "max_delay", "max_retry_wait"]),
    value=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
    ),
)
def test_retry_policy_accepts_only_sane_numbers(field: str, value: Any) -> None:
    if field == "max_attempts":
        valid = type(value) is int and 1 <= value <= MAX_ATTEMPTS
    else:
        valid = type(value) in (int, float) and 0 <= value < math.inf
    if valid:
        assert getattr(ka.RetryPolicy(**{field: value}), field) == value
    else:
        with pytest.raises((TypeError, ValueError)):
            ka.RetryPolicy(**{field: value})


@pytest.mark.parametrize("per", [math.inf, -math.inf, math.nan, 0, -1])
def test_rate_limit_needs_a_finite_positive_window(per: float) -> None:
    with pytest.raises(ValueError, match="per"):
        ka.RateLimit(10, per)


async def test_the_most_attempts_allowed_are_made_then_it_stops() -> None:
    """The largest policy ends: no overflow of the backoff ceiling, no endless loop."""
    transport = RecordingTransport(lambda request: ok(request, {}, status=503))
    client = ka.KarbonClient(
        bearer_token="t",
        access_key="k",
        base_url="http://127.0.0.1:9",
        transport=transport,
        retry=ka.RetryPolicy(max_attempts=MAX_ATTEMPTS, base_delay=0.0, max_delay=0.0),
        rate_limit=ka.RateLimit(1000, 1.0),
    )
    with pytest.raises(ka.ServerError):
        await client.contacts.get("key")
    assert len(transport.sent) == MAX_ATTEMPTS


def _endpoints(kind: type) -> list[tuple[str, str, Any]]:
    found = []
    for attribute, resource_class in RESOURCES.items():
        for klass in resource_class.__mro__:
            for name, value in vars(klass).items():
                if isinstance(value, kind) and value.spec.expand is not None:
                    found.append((attribute, name, value))
    return found


@pytest.mark.parametrize(
    ("attribute", "name", "endpoint"),
    _endpoints(ListEndpoint) + _endpoints(GetEndpoint),
    ids=lambda item: item if isinstance(item, str) else "",
)
async def test_every_endpoint_taking_expand_refuses_unknown_names(
    recorded: tuple[ka.KarbonClient, RecordingTransport], attribute: str, name: str, endpoint: Any
) -> None:
    client, transport = recorded
    method = getattr(getattr(client, attribute), name)

    async def call() -> None:
        if isinstance(endpoint, ListEndpoint):
            method(expand=["NoSuchThing"])
        else:
            await method("key", expand=["NoSuchThing"])

    with pytest.raises(ValueError, match="cannot \\$expand NoSuchThing"):
        await call()
    assert transport.sent == []
