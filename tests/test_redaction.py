"""No query string in error text or logs unless DEBUG is asked for, and then with the values of
``$filter`` and download tokens redacted (the README's promise)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import F
from karbon_async._redact import redact_filter, redact_text, shown_url
from karbon_async._urls import join_url
from karbon_async.testing import FakeKarbon, Fault

BASE = "https://api.karbonhq.com/v3/Contacts"


@pytest.fixture
def debug() -> Iterator[None]:
    logger = logging.getLogger("karbon_async")
    before = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.setLevel(before)


@pytest.fixture
def not_debug() -> Iterator[None]:
    logger = logging.getLogger("karbon_async")
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(before)


def test_without_debug_the_query_is_left_out(not_debug: None) -> None:
    assert shown_url(f"{BASE}?$filter=FullName eq 'Ann'&$top=5") == f"{BASE}?…"
    assert shown_url("https://x.test/v3/Files?token=abc#frag") == "https://x.test/v3/Files?…"
    assert shown_url(BASE) == BASE
    assert shown_url(f"{BASE}?") == BASE


def test_with_debug_filter_values_and_tokens_are_redacted(debug: None) -> None:
    url = (
        f"{BASE}?%24filter=FullName%20eq%20%27O%27%27Brien%27%20and%20Amount%20gt%2010"
        "&$top=100&$orderby=FullName"
    )
    assert (
        shown_url(url)
        == f"{BASE}?$filter=FullName eq '…' and Amount gt …&$top=100&$orderby=FullName"
    )
    assert shown_url("https://x.test/v3/Files?token=abc") == "https://x.test/v3/Files?token=…"


def test_filter_redaction_covers_every_literal_form() -> None:
    assert redact_filter("contains(FullName, 'Sharma')") == "contains(FullName, '…')"
    assert redact_filter("StartDate ge 2026-01-01T00:00:00Z") == "StartDate ge …"
    assert redact_filter("Key in ('a', 'b')") == "Key in (…)"
    assert redact_filter("day(StartDate) eq 4") == "day(StartDate) eq …"
    assert redact_filter("IsActive eq true or X ne null") == "IsActive eq … or X ne …"


def test_urls_inside_a_library_message_are_shown_the_same_way(not_debug: None) -> None:
    text = "400, message='Bad Request', url='http://127.0.0.1:9/v3/Contacts?$filter=x%20eq%201'"
    assert redact_text(text) == "400, message='Bad Request', url='http://127.0.0.1:9/v3/Contacts?…'"


MARK = "Zq"


@given(st.text(min_size=1, max_size=30))
def test_no_text_value_of_a_filter_survives_debug(value: str) -> None:
    logging.getLogger("karbon_async").setLevel(logging.DEBUG)
    try:
        secret = f"{MARK}{value}{MARK}"
        expression = str(
            (F.FullName == secret) | F.EmailAddress.contains(secret) | F.ContactType.in_([secret])
        )
        shown = shown_url(join_url(BASE, "", {"$filter": expression, "$top": "5"}))
    finally:
        logging.getLogger("karbon_async").setLevel(logging.NOTSET)
    assert MARK not in shown
    assert shown.endswith("&$top=5")


@given(st.integers(10**6, 10**9), st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)))
def test_no_number_or_date_of_a_filter_survives_debug(number: int, day: dt.date) -> None:
    logging.getLogger("karbon_async").setLevel(logging.DEBUG)
    try:
        expression = str((F.Amount >= number) & (F.StartDate < day))
        shown = shown_url(join_url(BASE, "", {"$filter": expression}))
    finally:
        logging.getLogger("karbon_async").setLevel(logging.NOTSET)
    assert str(number) not in shown
    assert day.isoformat() not in shown
    assert "Amount ge …" in shown


SECRET = "Priya Secret-Sharma"


async def _failing_list(fake: FakeKarbon) -> ka.APIStatusError:
    account = fake.accounts[0]
    fake.add_fault(Fault.status(400), path="/v3/Contacts")
    async with ka.KarbonClient(
        bearer_token=account.bearer_token,
        access_key=account.access_key,
        base_url=fake.base_url,
        retry=ka.RetryPolicy(max_attempts=1),
    ) as client:
        with pytest.raises(ka.BadRequestError) as caught:
            await client.contacts.list(filter=F.FullName == SECRET).first()
    return caught.value


async def test_an_api_error_names_the_path_not_the_query(
    not_debug: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="karbon_async")
    async with FakeKarbon(rate_limit=None, size=5) as fake:
        error = await _failing_list(fake)
    assert str(error).startswith(f"400 GET {fake.base_url}/v3/Contacts?… [4002]")
    assert "Secret" not in str(error)
    assert "Secret" in error.url  # the attribute keeps the whole URL, for programs
    assert not any("Secret" in record.getMessage() for record in caplog.records)


async def test_at_debug_the_error_shows_the_query_redacted(
    debug: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    async with FakeKarbon(rate_limit=None, size=5) as fake:
        error = await _failing_list(fake)
    assert "$filter=FullName eq '…'" in str(error)
    assert "Secret" not in str(error)
    assert caplog.records  # DEBUG logs every response
    assert not any("Secret" in record.getMessage() for record in caplog.records)


async def test_a_transport_error_shows_no_query(not_debug: None) -> None:
    async with FakeKarbon(rate_limit=None, size=5) as fake:
        account = fake.accounts[0]
        fake.add_fault(Fault.disconnect(), path="/v3/Contacts", count=None)
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            retry=ka.RetryPolicy(max_attempts=1),
        ) as client:
            with pytest.raises(ka.TransportError) as caught:
                await client.contacts.list(filter=F.FullName == SECRET).first()
    assert "Secret" not in str(caught.value)
