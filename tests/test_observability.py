"""Event hooks, retry/wait logs, and the client options (timeouts, proxy, loop, base URL)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async._urls import normalise_base_url
from karbon_async.testing import FakeAccount, FakeKarbon, Fault


def client_for(fake: FakeKarbon, **options: object) -> ka.KarbonClient:
    account: FakeAccount = fake.accounts[0]
    options.setdefault("base_url", fake.base_url)
    return ka.KarbonClient(
        bearer_token=account.bearer_token,
        access_key=account.access_key,
        **options,  # type: ignore[arg-type]
    )


def secrets_of(fake: FakeKarbon) -> tuple[str, str]:
    return fake.accounts[0].bearer_token, fake.accounts[0].access_key


async def test_hooks_see_each_attempt_the_retry_and_no_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[object] = []
    async_seen: list[ka.ResponseEvent] = []

    async def on_response(event: ka.Event) -> None:
        assert isinstance(event, ka.ResponseEvent)
        async_seen.append(event)

    hooks: Mapping[str, list[ka.EventHook]] = {
        "request": [seen.append],
        "response": [seen.append, on_response],
        "retry": [seen.append],
    }
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        key = fake.accounts[0].collection("Contacts").key_of(0)
        fake.add_fault(Fault.status(503), account=0, count=1)
        retry = ka.RetryPolicy(base_delay=0.01, max_delay=0.02)
        async with client_for(fake, retry=retry, event_hooks=hooks) as client:
            await client.contacts.get(key)
        bearer, access_key = secrets_of(fake)

    kinds = [type(event).__name__ for event in seen]
    assert kinds == [
        "RequestEvent",
        "ResponseEvent",
        "RetryEvent",
        "RequestEvent",
        "ResponseEvent",
    ]
    first, failed, retried, second, ok = seen
    assert isinstance(first, ka.RequestEvent)
    assert isinstance(second, ka.RequestEvent)
    assert (first.method, first.attempt, first.lane) == ("GET", 1, ka.Lane.INTERACTIVE)
    assert second.attempt == 2
    # The route is the template: the key is a value, not part of the metric's name.
    assert first.route.startswith("/v3/Contacts/{")
    assert key not in first.route
    assert isinstance(failed, ka.ResponseEvent)
    assert isinstance(ok, ka.ResponseEvent)
    assert (failed.status, ok.status) == (503, 200)
    assert failed.elapsed >= 0
    assert isinstance(retried, ka.RetryEvent)
    assert (retried.attempt, retried.reason) == (1, "ServerError 503")
    assert 0 <= retried.wait <= 0.02
    assert async_seen == [failed, ok]

    retry_logs = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retry_logs) == 1
    assert retry_logs[0].levelno == logging.INFO
    assert "ServerError 503" in retry_logs[0].getMessage()
    assert retry_logs[0].name == "karbon_async"
    everything = " ".join([*(repr(e) for e in seen), *(r.getMessage() for r in caplog.records)])
    assert bearer not in everything
    assert access_key not in everything


async def test_on_event_gets_the_429_and_every_budget_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[ka.Event] = []
    caplog.set_level(logging.DEBUG, logger="karbon_async")
    limit = ka.RateLimit(1, 0.3)
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        keys = [fake.accounts[0].collection("Contacts").key_of(i) for i in range(2)]
        fake.add_fault(Fault.rate_limited(retry_after=1), account=0, count=1)
        async with client_for(fake, rate_limit=limit, on_event=events.append) as client:
            for key in keys:
                await client.contacts.get(key)

    limited = [e for e in events if isinstance(e, ka.RateLimitedEvent)]
    assert [(e.attempt, e.retry_after) for e in limited] == [(1, 1.0)]
    retries = [e for e in events if isinstance(e, ka.RetryEvent)]
    assert [e.reason for e in retries] == ["RateLimitError 429"]
    waits = [e for e in events if isinstance(e, ka.BudgetWaitEvent)]
    assert len(waits) == 3, "one per attempt: the 429, its retry, the second request"
    assert waits[0].waited < 0.1
    assert waits[1].waited >= 0.9, "the retry waited out Retry-After in the budget"
    assert all(e.lane is ka.Lane.INTERACTIVE for e in waits)
    wait_logs = [r for r in caplog.records if "for the rate-limit budget" in r.getMessage()]
    assert any(r.levelno == logging.INFO for r in wait_logs), "a wait of a second or more"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["429 on GET /v3/Contacts/{Contactkey}: pausing for 1.0 s"]
    assert keys[0] not in " ".join(r.getMessage() for r in caplog.records)


def test_bad_hooks_fail_when_the_client_is_made() -> None:
    credentials = {"bearer_token": "t", "access_key": "k"}
    with pytest.raises(ValueError, match="unknown event hook 'sent'"):
        ka.KarbonClient(**credentials, event_hooks={"sent": [print]})
    with pytest.raises(TypeError, match="list of callables"):
        ka.KarbonClient(**credentials, event_hooks={"request": print})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="not callable"):
        ka.KarbonClient(**credentials, event_hooks={"request": [1]})  # type: ignore[list-item]


async def test_with_options_timeout_applies_to_that_view_only() -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        key = fake.accounts[0].collection("Contacts").key_of(0)
        retry = ka.RetryPolicy(max_attempts=1)
        async with client_for(fake, retry=retry) as client:
            fake.add_fault(Fault.delay(0.5), account=0, count=1)
            with pytest.raises(ka.RequestTimeoutError, match=r"read 0\.1 s"):
                await client.with_options(timeout=ka.Timeout(read=0.1)).contacts.get(key)
            fake.add_fault(Fault.delay(0.5), account=0, count=1)
            with pytest.raises(ka.RequestTimeoutError, match=r"within 0\.1 s"):
                await client.with_options(timeout=0.1).contacts.get(key)
            fake.add_fault(Fault.delay(0.3), account=0, count=1)
            contact = await client.contacts.get(key)  # the client's own 60 s still holds
            assert contact.contact_key == key
            fake.add_fault(Fault.delay(0.3), account=0, count=1)
            assert (await client.with_options(timeout=None).contacts.get(key)) == contact


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"read": -1}, ValueError),
        ({"connect": 0}, ValueError),
        ({"total": float("inf")}, ValueError),
        ({"total": True}, TypeError),
        ({"read": "5"}, TypeError),
    ],
)
def test_timeout_refuses_nonsense(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ka.Timeout(**options)  # type: ignore[arg-type]


def test_timeout_maps_onto_aiohttp() -> None:
    split = ka.Timeout(connect=2, read=5, total=30)
    assert split.for_request().sock_connect == 2
    assert split.for_request().total == 30
    assert split.for_stream().total is None
    assert split.for_stream().sock_read == 5
    plain = ka.Request("GET", "https://api.karbonhq.com/v3/Contacts", timeout=7).timeout
    assert plain == ka.Timeout(total=7)
    assert plain is not None
    assert plain.for_stream().sock_connect == 7


class _Answering:
    """A transport answering every request with an empty JSON object."""

    async def send(self, request: ka.Request, *, before_resend: object = None) -> ka.Response:
        return ka.Response(200, {"Content-Type": "application/json"}, b"{}", request.url)

    async def aclose(self) -> None:
        pass


def test_a_second_event_loop_gets_a_clear_error() -> None:
    client = ka.KarbonClient(bearer_token="t", access_key="k", transport=_Answering())
    url = client._sender.url_for("/v3/Contacts")
    assert asyncio.run(client._sender.send_json("GET", url)) == {}
    with pytest.raises(ka.EventLoopMismatchError, match="another event loop") as raised:
        asyncio.run(client._sender.send_json("GET", url))
    assert isinstance(raised.value, RuntimeError)
    assert isinstance(raised.value, ka.ConfigurationError)


@given(
    st.sampled_from(["https://api.karbonhq.com", "http://127.0.0.1:8080", "https://x.test/api"]),
    st.sampled_from(["", "/v3", "/V3", "/v3/"]),
    st.integers(0, 3),
)
def test_the_base_url_never_doubles_v3(base: str, suffix: str, slashes: int) -> None:
    normal = normalise_base_url(base + suffix + "/" * slashes)
    assert normal == base
    assert normalise_base_url(normal) == normal


async def test_a_v3_base_url_reaches_the_same_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        key = fake.accounts[0].collection("Contacts").key_of(0)
        bearer, access_key = secrets_of(fake)
        monkeypatch.setenv("KARBON_BEARER_TOKEN", bearer)
        monkeypatch.setenv("KARBON_ACCESS_KEY", access_key)
        monkeypatch.setenv("KARBON_BASE_URL", fake.base_url + "/v3/")
        async with ka.KarbonClient.from_env() as client:
            assert client.base_url == fake.base_url
            assert (await client.contacts.get(key)).contact_key == key


async def test_redis_budget_is_keyed_like_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = ka.RateLimit(120, 60)
    monkeypatch.setenv("KARBON_BASE_URL", "https://api.karbonhq.com/v3/")
    from_env = ka.RedisBudget(limit, access_key="k")
    assert from_env.account == ka.account_id("https://api.karbonhq.com", "k")
    monkeypatch.delenv("KARBON_BASE_URL")
    adopted = ka.RedisBudget(limit, access_key="k")
    ka.KarbonClient(
        bearer_token="t", access_key="k", base_url="https://sandbox.test/v3", budget=adopted
    )
    assert adopted.account == ka.account_id("https://sandbox.test", "k")
    with pytest.raises(ka.ConfigurationError, match="one budget is for one account"):
        ka.KarbonClient(
            bearer_token="t", access_key="k", base_url="https://other.test", budget=adopted
        )
    explicit = ka.RedisBudget(limit, access_key="k", base_url="https://api.karbonhq.com")
    with pytest.raises(ka.ConfigurationError, match=r"keyed to 'https://api\.karbonhq\.com'"):
        ka.KarbonClient(
            bearer_token="t", access_key="k", base_url="https://sandbox.test", budget=explicit
        )
    for budget in (from_env, adopted, explicit):
        await budget.aclose()


async def _recording_proxy(seen: list[tuple[str, str]]) -> tuple[web.AppRunner, str]:
    """A loopback 'proxy' that records what it was asked for and answers ``{}`` itself."""

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, str(request.url)))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_proxy_and_trust_env_send_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, str]] = []
    runner, proxy = await _recording_proxy(seen)
    try:
        base = "http://karbon.invalid"  # never resolved: only the proxy is connected to
        async with ka.KarbonClient(
            bearer_token="t", access_key="k", base_url=base, proxy=proxy
        ) as client:
            assert await client._sender.send_json("GET", client._sender.url_for("/v3/A")) == {}
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with ka.KarbonClient(
            bearer_token="t", access_key="k", base_url=base, trust_env=True
        ) as client:
            assert await client._sender.send_json("GET", client._sender.url_for("/v3/B")) == {}
    finally:
        await runner.cleanup()
    assert seen == [("GET", f"{base}/v3/A"), ("GET", f"{base}/v3/B")]


def test_proxy_options_need_the_built_in_transport() -> None:
    with pytest.raises(ValueError, match="built-in transport"):
        ka.KarbonClient(bearer_token="t", access_key="k", transport=_Answering(), proxy="http://p")
    with pytest.raises(ka.UnsafeURLError):
        ka.KarbonClient(bearer_token="t", access_key="k", proxy="http://user:pw@proxy.test")


async def test_with_raw_response_gives_status_headers_and_the_parsed_result() -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        key = fake.accounts[0].collection("Contacts").key_of(0)
        async with client_for(fake) as client:
            raw = await client.with_raw_response.contacts.get(key)
            assert raw.status == 200
            assert raw.headers["Content-Type"].startswith("application/json")
            assert raw.parsed == await client.contacts.get(key)
            with pytest.raises(TypeError, match="single awaited call"):
                await client.with_raw_response.contacts.list()
            with pytest.raises(ka.NotFoundError):
                await client.with_raw_response.contacts.get("no-such-contact")
