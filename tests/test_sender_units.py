"""The request path's small decisions, each on its own: how long a 429 asks to wait, how a
body is encoded and decoded, the headers every request carries, and what the log says."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from decimal import Decimal

import pytest

import karbon_async as ka
from karbon_async._sender import (
    DEFAULT_RETRY_AFTER,
    Credentials,
    RequestSender,
    decode_json,
    encode_json,
    json_document,
    retry_after_seconds,
)
from karbon_async._transport import BeforeResend, Request, Response

BASE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"RETRY-AFTER": "0"}, 0.0),
        ({"X-Other": "3", "Retry-After": "12"}, 12.0),
        ({}, DEFAULT_RETRY_AFTER),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, DEFAULT_RETRY_AFTER),
        ({"Retry-After": "-1"}, DEFAULT_RETRY_AFTER),
        ({"Retry-After": "inf"}, DEFAULT_RETRY_AFTER),
        ({"Retry-After": "nan"}, DEFAULT_RETRY_AFTER),
    ],
)
def test_retry_after_seconds(headers: Mapping[str, str], expected: float) -> None:
    assert retry_after_seconds(headers) == expected
    assert DEFAULT_RETRY_AFTER == 10.0


def test_json_bodies_are_compact_and_decimals_exact() -> None:
    document = {"a": Decimal("12"), "b": Decimal("0.5"), "c": [Decimal("1.00"), "x"], "d": None}
    encoded = encode_json(document)
    assert b" " not in encoded
    assert json.loads(encoded, parse_float=Decimal) == document  # numerically equal
    with pytest.raises(TypeError, match=r"^cannot encode set as JSON$"):
        encode_json({"a": {1}})
    decoded = json_document(b'{"n": 1.10, "i": 3, "s": "x"}')
    assert decoded == {"n": Decimal("1.10"), "i": 3, "s": "x"}
    assert isinstance(decoded["n"], Decimal)
    assert str(decoded["n"]) == "1.10"


@pytest.mark.parametrize("body", [b'{"value": [', b"<html>", b"\xff\xfe"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_body_that_is_not_json_is_a_decode_error(body: bytes, method: str) -> None:
    response = Response(status=200, headers={}, body=body, url=f"{BASE}/v3/Contacts")
    with pytest.raises(ka.ResponseDecodeError) as caught:
        decode_json(response, method)
    error = caught.value
    assert str(error).startswith(f"the response to {BASE}/v3/Contacts is not valid JSON (")
    assert (error.method, error.url, error.maybe_processed) == (
        method,
        f"{BASE}/v3/Contacts",
        True,
    )
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize(
    ("token", "key", "message"),
    [
        ("", "k", "^bearer_token must be a non-empty string$"),
        ("  ", "k", "^bearer_token must be a non-empty string$"),
        ("t", "", "^access_key must be a non-empty string$"),
        ("t", None, "^access_key must be a non-empty string$"),
        ("t\nx", "k", "^bearer_token must not contain line breaks$"),
        ("t", "k\r", "^access_key must not contain line breaks$"),
    ],
)
def test_credentials_are_checked(token: str, key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Credentials(bearer_token=token, access_key=key)


def test_credentials_headers() -> None:
    credentials = Credentials(bearer_token="tok", access_key="key")
    assert credentials.headers() == {"Authorization": "Bearer tok", "AccessKey": "key"}
    assert repr(credentials) == "Credentials(bearer_token=<hidden>, access_key=<hidden>)"


class Recording:
    """Answers every send with ``status``, recording the requests."""

    def __init__(self, status: int = 200, body: bytes = b'{"ok": 1.5}') -> None:
        self.status = status
        self.body = body
        self.sent: list[Request] = []

    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        self.sent.append(request)
        return Response(status=self.status, headers={}, body=self.body, url=request.url)

    async def aclose(self) -> None:
        pass


def sender(transport: Recording, **options: object) -> RequestSender:
    budget = ka.AccountBudget(ka.RateLimit(100, 1.0))
    settings: dict[str, object] = {
        "base_url": BASE + "/",
        "credentials": Credentials(bearer_token="tok", access_key="key"),
        "transport": transport,
        "budget_factory": lambda: budget,
        "retry": ka.RetryPolicy(max_attempts=1),
        "timeout": 5.0,
        **options,
    }
    return RequestSender(**settings)  # type: ignore[arg-type]


async def test_every_request_carries_credentials_accept_and_user_agent() -> None:
    transport = Recording()
    client = sender(transport)
    assert client.base_url == BASE
    await client.send("GET", f"{BASE}/v3/Contacts", extra_headers={"X-Extra": "1"})
    await client.send("POST", f"{BASE}/v3/Contacts", json_body={"A": Decimal("2.50")})
    await client.send("PUT", f"{BASE}/v3/Files", body=b"raw", content_type="text/plain")
    get, post, put = transport.sent
    assert get.headers == {
        "Authorization": "Bearer tok",
        "AccessKey": "key",
        "Accept": "application/json",
        "User-Agent": f"karbon-async/{ka.__version__}",
        "X-Extra": "1",
    }
    assert (get.method, get.body) == ("GET", None)
    assert "Content-Type" not in get.headers
    assert (post.method, post.headers["Content-Type"]) == ("POST", "application/json")
    assert json.loads(post.body or b"", parse_float=Decimal) == {"A": Decimal("2.5")}
    assert (put.body, put.headers["Content-Type"]) == (b"raw", "text/plain")
    assert get.timeout == post.timeout == client.timeout


async def test_send_json_decodes_with_exact_numbers() -> None:
    transport = Recording(body=b'{"Amount": 10.10}')
    assert await sender(transport).send_json("GET", f"{BASE}/v3/Invoices") == {
        "Amount": Decimal("10.10")
    }
    texts = await sender(transport).send_json("GET", f"{BASE}/x", decode=bytes.upper)
    assert texts == b'{"AMOUNT": 10.10}'


async def test_redirects_are_errors_unless_accepted() -> None:
    transport = Recording(status=302, body=b"")
    client = sender(transport)
    response = await client.send("GET", f"{BASE}/v3/Files/1", accept_redirect=True)
    assert response.status == 302
    with pytest.raises(ka.APIStatusError) as caught:
        await client.send("GET", f"{BASE}/v3/Files/1")
    assert caught.value.status == 302
    transport.status = 404
    with pytest.raises(ka.NotFoundError):
        await client.send("GET", f"{BASE}/v3/Files/1", accept_redirect=True)


async def test_with_options_shares_everything_but_retry_and_timeout() -> None:
    transport = Recording()
    client = sender(transport)
    policy = ka.RetryPolicy(max_attempts=3)
    view = client.with_options(retry=policy)
    assert (view.retry, view.timeout, view.budget) == (policy, client.timeout, client.budget)
    assert view.cache is client.cache
    same = client.with_options()
    assert (same.retry, same.timeout) == (client.retry, client.timeout)
    untimed = client.with_options(timeout=None)
    assert untimed.retry is client.retry
    assert untimed.timeout != client.timeout


async def test_slow_budget_waits_are_logged_by_length(caplog: pytest.LogCaptureFixture) -> None:
    transport = Recording()
    budget = ka.AccountBudget(ka.RateLimit(100, 1.0))
    client = sender(transport, budget_factory=lambda: budget)
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    await client.send("GET", f"{BASE}/v3/Contacts")
    assert not [r for r in caplog.records if "waited" in r.getMessage()]
    for pause, level in ((0.15, logging.DEBUG), (1.05, logging.INFO)):
        caplog.clear()
        await budget.cool_down(pause)
        await client.send("GET", f"{BASE}/v3/Contacts")
        waits = [r for r in caplog.records if "waited" in r.getMessage()]
        assert len(waits) == 1
        assert waits[0].levelno == level
        assert waits[0].getMessage().startswith("GET /v3/Contacts waited ")
        assert waits[0].getMessage().endswith(" s for the rate-limit budget (interactive lane)")
