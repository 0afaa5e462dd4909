"""OpenTelemetry hooks: spans and metrics from the client's events, read by in-memory exporters."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import karbon_async as ka
from karbon_async.otel import OpenTelemetryHooks
from karbon_async.testing import FakeKarbon, Fault


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


async def test_a_span_per_call_and_metrics_for_attempts_429s_retries_and_waits() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    otel = OpenTelemetryHooks(tracer_provider, MeterProvider(metric_readers=[reader]))

    async with FakeKarbon(rate_limit=None, size=3) as fake:
        account = fake.accounts[0]
        key = account.collection("Contacts").key_of(0)
        fake.add_fault(Fault.status(503), account=0, count=1)
        fake.add_fault(Fault.rate_limited(retry_after=1), account=0, count=1)
        retry = ka.RetryPolicy(base_delay=0.01, max_delay=0.02)
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            retry=retry,
            on_event=otel,
        ) as client:
            otel.observe_budget(client.budget)
            await client.contacts.get(key)
            assert len(spans.get_finished_spans()) == 1, "a success ends its span at once"
            with pytest.raises(ka.NotFoundError):
                await client.contacts.get("no-such-contact")
            assert len(spans.get_finished_spans()) == 1, "a failed call may still be retried"
            otel.close()

    ok, missing = spans.get_finished_spans()
    assert ok.name == "Karbon GET /v3/Contacts/{Contactkey}"
    assert dict(ok.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": "/v3/Contacts/{Contactkey}",
        "karbon.lane": "interactive",
        "karbon.attempt": 3,
        "karbon.budget_wait_seconds": pytest.approx(ok.attributes["karbon.budget_wait_seconds"]),
        "http.response.status_code": 200,
    }
    assert ok.attributes["karbon.budget_wait_seconds"] >= 0.9, "Retry-After waited in the budget"
    assert ok.status.status_code is StatusCode.UNSET
    assert ok.end_time is not None
    assert ok.start_time is not None
    assert (ok.end_time - ok.start_time) / 1e9 >= 0.9
    assert missing.attributes is not None
    assert missing.attributes["http.response.status_code"] == 404
    assert missing.attributes["karbon.attempt"] == 1
    assert missing.status.status_code is StatusCode.ERROR
    text = repr([dict(s.attributes or {}) for s in (ok, missing)])
    assert account.bearer_token not in text
    assert account.access_key not in text
    assert "no-such-contact" not in text
    assert "127.0.0.1" not in text

    metrics = points(reader)
    assert sum(p.value for p in metrics["karbon.client.requests"]) == 4
    assert sum(p.value for p in metrics["karbon.client.rate_limited"]) == 1
    retries = {p.attributes["error.type"]: p.value for p in metrics["karbon.client.retries"]}
    assert retries == {"ServerError 503": 1, "RateLimitError 429": 1}
    (waits,) = metrics["karbon.client.budget_wait"]
    assert waits.count == 4
    assert waits.sum >= 0.9
    (in_window,) = metrics["karbon.budget.in_window"]
    assert in_window.value == 4, "every attempt still counts in the 60-second window"


async def test_mirror_figures_per_account() -> None:
    from karbon_async import mirror as mr
    from karbon_async.export import Account

    reader = InMemoryMetricReader()
    otel = OpenTelemetryHooks(meter_provider=MeterProvider(metric_readers=[reader]))
    service = mr.MirrorService(
        mr.Mirror("postgresql://localhost/unused"),  # nothing connects until started
        [Account("a", "t", "k"), Account("b", "t", "k")],
        public_url="https://hooks.example.com",
        signing_key="mirror-otel-signing-key",
    )
    try:
        otel.observe_mirror(service)
        figures = service._mirrors["a"].stats
        figures.events, figures.changes, figures.drift = 5, 3, 1
        figures.freshness += [0.1, 0.2, 0.3]
        found = points(reader)
        by_account = {
            name: {p.attributes["karbon.account"]: p.value for p in found[name]}
            for name in ("karbon.mirror.events", "karbon.mirror.changes", "karbon.mirror.drift")
        }
        assert by_account == {
            "karbon.mirror.events": {"a": 5, "b": 0},
            "karbon.mirror.changes": {"a": 3, "b": 0},
            "karbon.mirror.drift": {"a": 1, "b": 0},
        }
        assert [p.attributes["karbon.account"] for p in found["karbon.mirror.queued"]] == ["a", "b"]
        [p50] = found["karbon.mirror.freshness.p50"]
        assert p50.attributes == {"karbon.account": "a"}
        assert p50.value == pytest.approx(0.2)
    finally:
        for account in service._mirrors.values():
            await account.client.aclose()
