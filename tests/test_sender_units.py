"""The request path's small decisions, each on its own: how long a 429 asks to wait, how a
body is encoded and decoded, the headers every request carries, and what the log says."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from errno import ECONNREFUSED, ETIMEDOUT

import attrs
import pytest

import karbon_async as ka
from karbon_async import _sender as sender_module
from karbon_async._hooks import (
    NO_HOOKS,
    BudgetWaitEvent,
    Hooks,
    RateLimitedEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from karbon_async._limits import Lane
from karbon_async._sender import (
    DEFAULT_RETRY_AFTER,
    Credentials,
    RequestSender,
    _Observed,
    decode_json,
    decode_reply,
    encode_json,
    json_document,
    retry_after_seconds,
)
from karbon_async._transport import BeforeResend, Request, Response
from karbon_async.models import Contact

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
    assert encoded.startswith(b'{"a":12,'), "a whole number is written without a fraction"
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
    # A write whose answer is unreadable was processed: it is never sent again.
    assert error.not_repeated is (method == "POST")


def test_a_decode_error_names_get_unless_told_otherwise() -> None:
    response = Response(status=200, headers={}, body=b"<html>", url=f"{BASE}/v3/Users")
    with pytest.raises(ka.ResponseDecodeError) as caught:
        decode_json(response)
    assert caught.value.method == "GET"


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


class Scripted(Recording):
    """Answers with each scripted status in turn; a resend (aiohttp's silent retry of an
    idempotent request on a stale connection) is simulated with "resend"."""

    def __init__(self, *script: int | str) -> None:
        super().__init__()
        self.script = list(script)

    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        self.sent.append(request)
        step = self.script.pop(0)
        if step == "resend":
            assert before_resend is not None
            await before_resend()
            step = self.script.pop(0)
        headers = {"Retry-After": "0.01"} if step == 429 else {}
        return Response(status=int(step), headers=headers, body=b"{}", url=request.url)


def hooked(transport: Recording, **options: object) -> tuple[RequestSender, list[object]]:
    events: list[object] = []
    client = sender(
        transport,
        hooks=Hooks(on_event=events.append),
        retry=ka.RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.001),
        **options,
    )
    return client, events


def without_timings(events: list[object]) -> list[object]:
    return [
        attrs.evolve(
            event, **{name: 0.0 for name in ("elapsed", "waited", "wait") if hasattr(event, name)}
        )
        for event in events
    ]


async def test_hooks_see_every_attempt_of_a_request_with_its_facts() -> None:
    client, events = hooked(Scripted(429, 503, 200))
    response = await client.send(
        "GET", f"{BASE}/v3/Contacts/abc?$expand=X", lane=Lane.BULK, route="/v3/Contacts/{id}"
    )
    assert response.status == 200
    route = "/v3/Contacts/{id}"
    assert without_timings(events) == [
        BudgetWaitEvent("GET", route, 1, Lane.BULK, 0.0),
        RequestEvent("GET", route, 1, Lane.BULK),
        ResponseEvent("GET", route, 1, 429, 0.0),
        RateLimitedEvent("GET", route, 1, 0.01),
        RetryEvent("GET", route, 1, "RateLimitError 429", 0.0),
        BudgetWaitEvent("GET", route, 2, Lane.BULK, 0.0),
        RequestEvent("GET", route, 2, Lane.BULK),
        ResponseEvent("GET", route, 2, 503, 0.0),
        RetryEvent("GET", route, 2, "ServerError 503", 0.0),
        BudgetWaitEvent("GET", route, 3, Lane.BULK, 0.0),
        RequestEvent("GET", route, 3, Lane.BULK),
        ResponseEvent("GET", route, 3, 200, 0.0),
    ]
    for event in events:
        for name in ("elapsed", "waited", "wait"):
            assert 0.0 <= getattr(event, name, 0.0) < 5.0


async def test_send_json_reports_the_same_events_and_defaults_the_route_to_the_path() -> None:
    client, events = hooked(Scripted(200))
    assert await client.send_json("GET", f"{BASE}/v3/Users?$top=5") == {}
    assert without_timings(events) == [
        BudgetWaitEvent("GET", "/v3/Users", 1, Lane.INTERACTIVE, 0.0),
        RequestEvent("GET", "/v3/Users", 1, Lane.INTERACTIVE),
        ResponseEvent("GET", "/v3/Users", 1, 200, 0.0),
    ]


async def test_a_retry_not_caused_by_a_status_is_named_by_its_class() -> None:
    class Dropping(Recording):
        async def send(
            self, request: Request, *, before_resend: BeforeResend | None = None
        ) -> Response:
            self.sent.append(request)
            if len(self.sent) == 1:
                raise ka.TransportError(
                    "dropped", method="GET", url=request.url, maybe_processed=True
                )
            return await super().send(request)

    client, events = hooked(Dropping())
    await client.send("GET", f"{BASE}/v3/Contacts")
    retries = [event for event in events if isinstance(event, RetryEvent)]
    assert [event.reason for event in retries] == ["TransportError"]


async def test_a_resend_takes_a_permit_of_its_own_in_the_same_lane() -> None:
    transport = Scripted("resend", 200)
    budget = ka.AccountBudget(ka.RateLimit(10, 60.0))
    client = sender(transport, budget_factory=lambda: budget)
    await client.send("GET", f"{BASE}/v3/Contacts", lane=Lane.BULK)
    snapshot = budget.snapshot()
    assert (snapshot.granted, snapshot.in_flight, snapshot.in_window) == (2, 0, 2)


@pytest.mark.parametrize("status", [300, 304])
async def test_only_2xx_is_success(status: int) -> None:
    client = sender(Scripted(status))
    with pytest.raises(ka.APIStatusError) as caught:
        await client.send("GET", f"{BASE}/v3/Contacts")
    assert caught.value.status == status


async def test_send_json_never_returns_a_redirect() -> None:
    client = sender(Scripted(302))
    with pytest.raises(ka.APIStatusError) as caught:
        await client.send_json("GET", f"{BASE}/v3/Files/1")
    assert caught.value.status == 302


async def test_send_json_sends_its_body_and_headers_and_names_its_method() -> None:
    transport = Recording(body=b"not json")
    client = sender(transport)
    with pytest.raises(ka.ResponseDecodeError) as caught:
        await client.send_json(
            "POST", f"{BASE}/v3/Notes", json_body={"Body": "x"}, extra_headers={"X-Extra": "1"}
        )
    assert caught.value.method == "POST"
    (sent,) = transport.sent
    assert (sent.body, sent.headers["X-Extra"]) == (b'{"Body":"x"}', "1")


async def test_the_request_path_logs_each_answer_retry_and_429(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    client = sender(Scripted(429, 200), retry=ka.RetryPolicy(max_attempts=3, base_delay=0.001))
    await client.send("GET", f"{BASE}/v3/Contacts?$top=1")
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("GET /v3/Contacts -> 429 in ")
    assert messages[0].endswith(" ms (attempt 1)")
    assert messages[1] == "429 on GET /v3/Contacts: pausing for 0.0 s"
    assert messages[2] == (
        "retrying GET /v3/Contacts in 0.00 s after RateLimitError 429 (attempt 1 of 3 failed)"
    )
    assert messages[3].startswith("GET /v3/Contacts -> 200 in ")
    assert messages[3].endswith(" ms (attempt 2)")
    assert len(messages) == 4
    elapsed = float(messages[3].split(" in ")[1].split(" ms")[0])
    assert 0 <= elapsed < 5000, "milliseconds, not seconds or microseconds"


@pytest.mark.parametrize(
    ("waited", "level"),
    [(0.0999, None), (0.1, logging.DEBUG), (0.9999, logging.DEBUG), (1.0, logging.INFO)],
)
async def test_budget_waits_from_a_tenth_of_a_second_are_logged(
    caplog: pytest.LogCaptureFixture, waited: float, level: int | None
) -> None:
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    await _Observed(NO_HOOKS, "GET", "/v3/Users", "", Lane.BULK).permit_granted(waited)
    assert [record.levelno for record in caplog.records] == ([] if level is None else [level])


def test_a_download_request_carries_credentials_only_to_our_origin() -> None:
    secure = sender(Recording(), base_url="https://127.0.0.1:9")
    ours = secure._stream_request("https://127.0.0.1:9/v3/Files?t=1", offsite=False)
    assert (ours.method, ours.url, ours.timeout, ours.body) == (
        "GET",
        "https://127.0.0.1:9/v3/Files?t=1",
        secure.timeout,
        None,
    )
    assert ours.headers == {
        "User-Agent": f"karbon-async/{ka.__version__}",
        "Authorization": "Bearer tok",
        "AccessKey": "key",
    }
    offsite = secure._stream_request("https://cdn.example/blob?sig=1", offsite=True)
    assert (offsite.method, offsite.timeout) == ("GET", secure.timeout)
    assert offsite.headers == {"User-Agent": f"karbon-async/{ka.__version__}"}
    with pytest.raises(
        ka.UnsafeURLError,
        match=r"^refusing to follow a download to a non-https URL: 'http://cdn.example/b'$",
    ):
        secure._stream_request("http://cdn.example/b", offsite=True)
    with pytest.raises(ka.UnsafeURLError):
        secure._stream_request("https://elsewhere.example/v3/Files", offsite=False)
    plain = sender(Recording())  # an http origin (a test server) may download over http
    assert plain._stream_request("http://cdn.example/b", offsite=True).url == (
        "http://cdn.example/b"
    )


def test_only_trailing_slashes_leave_the_base_url() -> None:
    assert sender(Recording(), base_url="http://127.0.0.1:9/apiX//").base_url == (
        "http://127.0.0.1:9/apiX"
    )


def test_a_client_is_bound_to_the_first_event_loop_it_is_used_in() -> None:
    client = sender(Recording())

    async def call() -> None:
        await client.send("GET", f"{BASE}/v3/Contacts")

    asyncio.run(call())
    message = (
        "this KarbonClient was first used in another event loop; make one client per event "
        "loop (for example inside the coroutine given to asyncio.run)"
    )
    with pytest.raises(ka.EventLoopMismatchError, match=f"^{re.escape(message)}$"):
        asyncio.run(call())


async def test_a_429_outside_a_request_logs_its_path_and_pauses_the_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A download's 429 (no route template) is logged by its path, never its query."""
    caplog.set_level(logging.WARNING, logger="karbon_async")
    budget = ka.AccountBudget(ka.RateLimit(100, 1.0))
    client = sender(Recording(), budget_factory=lambda: budget)
    request = Request(method="GET", url=f"{BASE}/v3/Files?token=secret", headers={})
    response = Response(429, {"Retry-After": "7"}, b"", request.url)
    error = await client._status_error(request, response)
    assert isinstance(error, ka.RateLimitError)
    assert error.retry_after == 7.0
    assert [r.getMessage() for r in caplog.records] == ["429 on GET /v3/Files: pausing for 7.0 s"]
    assert budget.snapshot().cooldown_remaining > 6.0


async def test_the_answer_log_gives_milliseconds(caplog: pytest.LogCaptureFixture) -> None:
    class Slow(Recording):
        async def send(
            self, request: Request, *, before_resend: BeforeResend | None = None
        ) -> Response:
            await asyncio.sleep(0.06)
            return await super().send(request)

    caplog.set_level(logging.DEBUG, logger="karbon_async")
    await sender(Slow()).send("GET", f"{BASE}/v3/Contacts")
    (answer,) = [r.getMessage() for r in caplog.records if " -> " in r.getMessage()]
    elapsed = float(answer.split(" in ")[1].split(" ms")[0])
    assert 55 <= elapsed < 5000


@pytest.mark.parametrize(("method", "not_repeated"), [("POST", True), ("put", False)])
def test_a_write_answer_that_does_not_fit_its_model_names_the_request(
    method: str, not_repeated: bool
) -> None:
    url = f"{BASE}/v3/Contacts"
    garbled = Response(status=200, headers={}, body=b"<html>", url=url)
    with pytest.raises(ka.ResponseDecodeError) as not_json:
        decode_reply(garbled, method, Contact)
    assert (not_json.value.method, not_json.value.not_repeated) == (method, not_repeated)
    misfit = Response(status=200, headers={}, body=b'{"ContactKey": [1]}', url=url)
    with pytest.raises(ka.ModelDecodeError) as caught:
        decode_reply(misfit, method, Contact)
    error = caught.value
    assert (error.method, error.url, error.path) == (method, url, "Contact.ContactKey")
    assert error.not_repeated is not_repeated
    fits = Response(status=200, headers={}, body=b'{"ContactKey": "c1"}', url=url)
    assert decode_reply(fits, method, Contact).contact_key == "c1"


def test_a_request_body_writes_every_decimal_without_an_exponent() -> None:
    document = {"a": Decimal("1E+2"), "b": Decimal("1E-7"), "c": Decimal("-2.50")}
    assert encode_json(document) == b'{"a":100,"b":0.0000001,"c":-2.50}'


@pytest.mark.parametrize(
    "body",
    [b'\xef\xbb\xbf{"n": 1.10}', b'{"n": 1.10, "nan": NaN}'],
    ids=["byte-order mark", "NaN"],
)
def test_what_msgspec_refuses_is_read_by_json_with_exact_numbers(body: bytes) -> None:
    document = json_document(body)
    assert document["n"] == Decimal("1.10")
    assert isinstance(document["n"], Decimal)
    assert str(document["n"]) == "1.10"


class _Clock:
    """``time.monotonic`` for the sender alone: 0.0, then ``later`` on every later call."""

    def __init__(self, later: float) -> None:
        self.readings = [0.0]
        self.later = later

    def monotonic(self) -> float:
        return self.readings.pop() if self.readings else self.later


async def test_a_budget_wait_of_exactly_a_tenth_of_a_second_is_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "time", _Clock(0.1))
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    await sender(Recording()).send("GET", f"{BASE}/v3/Contacts")
    waits = [r.getMessage() for r in caplog.records if "waited" in r.getMessage()]
    assert waits == ["GET /v3/Contacts waited 0.10 s for the rate-limit budget (interactive lane)"]


class Refusing(Recording):
    """Every connection fails with ``errno`` (refused: nothing listens there)."""

    def __init__(self, errno: int = ECONNREFUSED) -> None:
        super().__init__()
        self.errno = errno

    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        self.sent.append(request)
        raise ka.ConnectError(
            "could not connect", method=request.method, url=request.url, errno=self.errno
        )


def refused_message(tries: str) -> str:
    return (
        f"connection refused by {BASE}{tries}: nothing is listening there. Check the base URL "
        "(KARBON_BASE_URL, or base_url= of KarbonClient) and that the server is up"
    )


async def test_a_refused_connection_is_worded_as_a_base_url_to_check() -> None:
    transport = Refusing()
    retrying = sender(transport, retry=ka.RetryPolicy(max_attempts=5, base_delay=0.0))
    with pytest.raises(ka.ConnectError) as caught:
        await retrying.send("GET", f"{BASE}/v3/Contacts")
    assert len(transport.sent) == 3  # REFUSED_ATTEMPTS, not the policy's 5
    assert caught.value.args == (refused_message(" (3 attempts)"),)
    twice = sender(Refusing(), retry=ka.RetryPolicy(max_attempts=2, base_delay=0.0))
    with pytest.raises(ka.ConnectError) as caught:
        await twice.send("POST", f"{BASE}/v3/Contacts")
    assert caught.value.args == (refused_message(" (2 attempts)"),)
    with pytest.raises(ka.ConnectError) as once:
        await sender(Refusing()).send_json("GET", f"{BASE}/v3/Contacts")
    assert once.value.args == (refused_message(""),)


async def test_a_connection_failing_otherwise_keeps_its_own_words() -> None:
    client = sender(Refusing(ETIMEDOUT))
    with pytest.raises(ka.ConnectError) as caught:
        await client.send("GET", f"{BASE}/v3/Contacts")
    assert caught.value.args == ("could not connect",)


async def test_a_view_with_its_own_hooks_reports_to_them_alone() -> None:
    client = sender(Recording())
    events: list[object] = []
    view = client.with_options(hooks=Hooks(on_event=events.append))
    await view.send("GET", f"{BASE}/v3/Contacts")
    assert [type(event) for event in events] == [BudgetWaitEvent, RequestEvent, ResponseEvent]
    await client.send("GET", f"{BASE}/v3/Contacts")
    assert len(events) == 3
    assert client.hooks is NO_HOOKS
