"""The retry layer with its budget and a scripted transport: which failures are tried again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

import karbon_async as ka
from karbon_async._sender import Credentials, RequestSender
from karbon_async._transport import BeforeResend, Request, Response

BASE = "http://127.0.0.1:9"


class ScriptedTransport:
    """Answers each send with the next scripted outcome (a status or an exception factory)."""

    def __init__(self, script: list[int | Callable[[Request], Exception]], retry_after: str = "1"):
        self.script = list(script)
        self.sent: list[Request] = []
        self.retry_after = retry_after

    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        self.sent.append(request)
        outcome = self.script.pop(0)
        if callable(outcome):
            raise outcome(request)
        headers = {"Retry-After": self.retry_after} if outcome == 429 else {}
        return Response(status=outcome, headers=headers, body=b'{"value":[]}', url=request.url)

    async def aclose(self) -> None:
        pass


def make_sender(
    transport: ScriptedTransport, *, limit: ka.RateLimit | None = None, **policy: float
) -> tuple[RequestSender, ka.AccountBudget]:
    budget = ka.AccountBudget(limit or ka.RateLimit(100, 1.0))
    sender = RequestSender(
        base_url=BASE,
        credentials=Credentials(bearer_token="token", access_key="key"),
        transport=transport,
        budget_factory=lambda: budget,
        retry=ka.RetryPolicy(base_delay=0.001, max_delay=0.01, **policy),  # type: ignore[arg-type]
        timeout=5.0,
    )
    return sender, budget


def dropped(request: Request) -> Exception:
    return ka.TransportError(
        "dropped", method=request.method, url=request.url, maybe_processed=True
    )


def refused(request: Request) -> Exception:
    return ka.ConnectError("refused", method=request.method, url=request.url)


def timed_out(request: Request) -> Exception:
    return ka.RequestTimeoutError(
        "slow", method=request.method, url=request.url, maybe_processed=True
    )


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST", "PATCH"])
async def test_429_is_retried_for_every_method(method: str) -> None:
    transport = ScriptedTransport([429, 200], retry_after="0.05")
    sender, budget = make_sender(transport)
    response = await sender.send(method, f"{BASE}/v3/Contacts")
    assert response.status == 200
    assert len(transport.sent) == 2
    assert budget.snapshot().rate_limited == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "POST", "PATCH"])
async def test_connection_refused_is_retried_for_every_method(method: str) -> None:
    transport = ScriptedTransport([refused, 200])
    sender, _ = make_sender(transport)
    assert (await sender.send(method, f"{BASE}/v3/Contacts")).status == 200


@pytest.mark.parametrize("failure", [503, 500, dropped, timed_out])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_idempotent_methods_are_retried_after_possible_processing(
    method: str, failure: int | Callable[[Request], Exception]
) -> None:
    transport = ScriptedTransport([failure, failure, 200])
    sender, _ = make_sender(transport)
    assert (await sender.send(method, f"{BASE}/v3/WorkItems/abc")).status == 200
    assert len(transport.sent) == 3


@pytest.mark.parametrize("failure", [503, dropped, timed_out])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_non_idempotent_calls_are_never_repeated_once_they_may_have_landed(
    method: str, failure: int | Callable[[Request], Exception]
) -> None:
    transport = ScriptedTransport([failure, 200])
    sender, _ = make_sender(transport)
    with pytest.raises((ka.ServerError, ka.TransportError)) as caught:
        await sender.send(method, f"{BASE}/v3/WorkItems")
    assert len(transport.sent) == 1
    assert caught.value.not_repeated
    assert "not idempotent" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ka.BadRequestError),
        (401, ka.AuthenticationError),
        (403, ka.PermissionDeniedError),
        (404, ka.NotFoundError),
        (409, ka.ConflictError),
    ],
)
async def test_client_errors_are_raised_at_once(status: int, error: type[Exception]) -> None:
    transport = ScriptedTransport([status, 200])
    sender, _ = make_sender(transport)
    with pytest.raises(error):
        await sender.send("GET", f"{BASE}/v3/Contacts")
    assert len(transport.sent) == 1


async def test_retry_after_beyond_the_cap_raises_instead_of_hanging() -> None:
    transport = ScriptedTransport([429, 200], retry_after="3600")
    sender, budget = make_sender(transport, max_retry_wait=60.0)
    with pytest.raises(ka.RateLimitError) as caught:
        await sender.send("GET", f"{BASE}/v3/Contacts")
    assert caught.value.retry_after == 3600
    assert len(transport.sent) == 1
    assert budget.snapshot().cooldown_remaining > 3500, "the budget still honours the pause"


async def test_attempts_are_bounded() -> None:
    transport = ScriptedTransport([503] * 10)
    sender, _ = make_sender(transport, max_attempts=3)
    with pytest.raises(ka.ServerError):
        await sender.send("GET", f"{BASE}/v3/Contacts")
    assert len(transport.sent) == 3


async def test_every_attempt_takes_a_permit_from_the_budget() -> None:
    transport = ScriptedTransport([503, 503, 200])
    sender, budget = make_sender(transport, limit=ka.RateLimit(10, 60.0))
    await sender.send("GET", f"{BASE}/v3/Contacts")
    assert budget.snapshot().granted == 3
    assert budget.snapshot().in_window == 3


async def test_cancellation_is_never_swallowed_or_retried() -> None:
    gate = asyncio.Event()

    class Hanging(ScriptedTransport):
        async def send(
            self, request: Request, *, before_resend: BeforeResend | None = None
        ) -> Response:
            self.sent.append(request)
            gate.set()
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    transport = Hanging([])
    sender, budget = make_sender(transport)
    task = asyncio.ensure_future(sender.send("GET", f"{BASE}/v3/Contacts"))
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(transport.sent) == 1
    assert budget.snapshot().in_flight == 0


async def test_credentials_never_reach_another_origin() -> None:
    transport = ScriptedTransport([200])
    sender, _ = make_sender(transport)
    with pytest.raises(ka.UnsafeURLError):
        await sender.send("GET", "http://evil.example/v3/Contacts")
    with pytest.raises(ka.UnsafeURLError):
        sender.checked_link("http://127.0.0.1:10/v3/Contacts?$skip=100")
    assert transport.sent == []


def test_credentials_are_not_shown() -> None:
    credentials = Credentials(bearer_token="secret-token", access_key="secret-key")
    assert "secret" not in repr(credentials)
    with pytest.raises(ValueError):
        Credentials(bearer_token="", access_key="k")
    with pytest.raises(ValueError):
        Credentials(bearer_token="t\r\nX-Evil: 1", access_key="k")
