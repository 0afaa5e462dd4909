"""Webhooks, the pure parts: signature, events, validation, router, worker, receiver."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from karbon_async import webhooks as wh
from karbon_async.webhooks import WebhookResourceType as RT

KEY = "test-signing-key_0123456789"
NOW = dt.datetime(2026, 3, 31, 14, 23, tzinfo=dt.timezone.utc)

# The 9 payload examples of the spec's `webhooks` section, verbatim.
SPEC_PAYLOADS: dict[str, dict[str, Any]] = {
    "contact": {"ResourceType": "Contact", "ActionType": "Updated"},
    "customfield": {
        "ResourceType": "CustomFieldValue",
        "ActionType": "Updated",
        "ClientKey": "44dSBb94ZXlR",
        "ClientType": "Organization",
    },
    "estimate-summary": {"ResourceType": "Estimate", "ActionType": "Updated"},
    "integration-task": {
        "ResourceType": "IntegrationTask",
        "ActionType": "Inserted",
        "ClientKey": "44dSBb94ZXlR",
        "ClientType": "Organization",
        "WorkItemKey": "qkG7YMW541L",
    },
    "invoice": {"ResourceType": "Invoice", "ActionType": "Updated"},
    "note": {"ResourceType": "Note", "ActionType": "Updated"},
    "note-comment": {
        "ResourceType": "NoteComment",
        "ActionType": "Updated",
        "ParentEntityType": "Note",
        "ParentEntityKey": "2TTFWz8L5SSt",
    },
    "user": {"ResourceType": "User", "ActionType": "Inserted"},
    "work": {"ResourceType": "Work", "ActionType": "Updated"},
}
for _payload in SPEC_PAYLOADS.values():
    _payload.update(ResourcePermaKey="kCsVf7svWQw", TimeStamp="2024-08-01T21:54:36Z")


def body_of(
    key: str = "W1",
    rtype: str = "Work",
    action: str = "Updated",
    stamp: dt.datetime | None = NOW,
    **extra: Any,
) -> bytes:
    document: dict[str, Any] = {
        "ResourcePermaKey": key,
        "ResourceType": rtype,
        "ActionType": action,
    }
    if stamp is not None:
        document["TimeStamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    document.update(extra)
    return json.dumps(document).encode()


def signed(body: bytes, key: str = KEY) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest(),
    }


def event_of(**kwargs: Any) -> wh.WebhookEvent:
    return wh.parse_event(body_of(**kwargs))


# --------------------------------------------------------------------------- signature


def test_signature_is_lowercase_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"ResourcePermaKey":"k"}'
    expected = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    assert wh.compute_signature(body, KEY) == expected
    assert expected == expected.lower()
    assert len(expected) == 64
    wh.verify_signature(body, {"Signature": expected}, KEY)
    wh.verify_signature(body, {"signature": expected.upper()}, KEY)  # header case-insensitive
    wh.verify_signature(body, {"Signature": expected}, ["old-key-0123456789abc", KEY])


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature"),
        ({"Signature": "  "}, "missing signature"),
        ({"Signature": "not-hex"}, "malformed signature"),
        ({"Signature": "ab" * 31}, "malformed signature"),
        ({"Signature": "0" * 64}, "signature mismatch"),
    ],
)
def test_missing_malformed_and_wrong_signatures_are_rejected(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(wh.InvalidSignatureError) as caught:
        wh.verify_signature(b"{}", headers, KEY)
    assert caught.value.reason == reason
    assert KEY not in str(caught.value)


def test_tampered_body_and_wrong_key_are_rejected() -> None:
    body = body_of()
    headers = signed(body)
    with pytest.raises(wh.InvalidSignatureError, match="mismatch"):
        wh.verify_signature(body.replace(b"W1", b"W2"), headers, KEY)
    with pytest.raises(wh.InvalidSignatureError, match="mismatch"):
        wh.verify_signature(body, headers, "another-key-0123456789")
    with pytest.raises(ValueError, match="signing key"):
        wh.verify_signature(body, headers, "")


_KEYS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=16
)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=512), key=_KEYS, data=st.data())
def test_any_changed_byte_or_key_is_rejected(body: bytes, key: str, data: st.DataObject) -> None:
    headers = {"Signature": wh.compute_signature(body, key)}
    wh.verify_signature(body, headers, key)
    index = data.draw(st.integers(0, len(body) - 1))
    flipped = bytearray(body)
    flipped[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(wh.InvalidSignatureError):
        wh.verify_signature(bytes(flipped), headers, key)
    other = data.draw(_KEYS.filter(lambda candidate: candidate != key))
    with pytest.raises(wh.InvalidSignatureError):
        wh.verify_signature(body, headers, other)


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize("name", sorted(SPEC_PAYLOADS))
def test_every_spec_payload_parses(name: str) -> None:
    payload = SPEC_PAYLOADS[name]
    event = wh.parse_event(json.dumps(payload).encode())
    assert event.resource_perma_key == "kCsVf7svWQw"
    assert event.resource_type.is_known
    assert event.action_type.is_known
    assert event.timestamp == dt.datetime(2024, 8, 1, 21, 54, 36, tzinfo=dt.timezone.utc)
    assert event.webhook_type is not None
    assert event.extra == {}
    assert wh.parse_event(payload) == event


def test_payload_extras_and_webhook_types() -> None:
    comment = wh.parse_event(SPEC_PAYLOADS["note-comment"])
    assert comment.parent_entity_type == RT.NOTE
    assert comment.parent_entity_key == "2TTFWz8L5SSt"
    assert comment.webhook_type == wh.WebhookType.NOTE
    task = wh.parse_event(SPEC_PAYLOADS["integration-task"])
    assert (task.client_key, task.work_item_key) == ("44dSBb94ZXlR", "qkG7YMW541L")
    assert str(task.client_type) == "Organization"
    assert wh.parse_event(SPEC_PAYLOADS["estimate-summary"]).webhook_type == "EstimateSummary"
    assert wh.parse_event(SPEC_PAYLOADS["customfield"]).webhook_type == "CustomField"


def test_unknown_types_actions_and_keys_are_kept() -> None:
    event = wh.parse_event(body_of(rtype="Project", action="InviteAccepted", Novel={"a": 1}))
    assert str(event.resource_type) == "Project"
    assert not event.resource_type.is_known
    assert str(event.action_type) == "InviteAccepted"
    assert event.webhook_type is None
    assert event.extra == {"Novel": {"a": 1}}
    assert wh.parse_event(body_of(stamp=None)).timestamp is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1]",
        b'"x"',
        body_of(key=""),
        b'{"ResourceType":"Work"}',
        b'{"ResourcePermaKey":"k","ResourceType":"Work","ActionType":"Updated","TimeStamp":"x"}',
    ],
)
def test_invalid_payloads(body: bytes) -> None:
    with pytest.raises(wh.InvalidPayloadError):
        wh.parse_event(body)


def test_staleness() -> None:
    event = event_of(stamp=NOW - dt.timedelta(minutes=10))
    assert event.age(NOW) == 600.0
    assert event.is_stale(300, NOW)
    assert not event.is_stale(900, NOW)
    assert not event_of(stamp=None).is_stale(1, NOW)


def test_resource_type_aliases() -> None:
    assert wh.resource_type("EstimateSummary") == RT.ESTIMATE
    assert wh.resource_type("CustomField") == RT.CUSTOM_FIELD_VALUE
    assert wh.resource_type("work") == RT.WORK
    assert wh.resource_type("Note Comment") == RT.NOTE_COMMENT


# --------------------------------------------------------------------------- validation


def test_target_url_and_signing_key_validation() -> None:
    assert wh.validate_target_url("https://example.com/hook")
    for bad in ("http://example.com/h", "HTTPS://example.com/h", "https://", "ftp://x"):
        with pytest.raises(ValueError, match="https://"):
            wh.validate_target_url(bad)
    with pytest.raises(ValueError, match="2000"):
        wh.validate_target_url("https://example.com/" + "a" * 1990)
    assert wh.validate_target_url("http://127.0.0.1:8080/h", allow_insecure_loopback=True)
    with pytest.raises(ValueError):
        wh.validate_target_url("http://example.com/h", allow_insecure_loopback=True)
    assert wh.validate_signing_key("A" * 16)
    assert wh.validate_signing_key("a-b_c" * 4)
    for bad_key in ("short-key", "has space in it 12345", "ünïcode-key-1234567", "a" * 15):
        with pytest.raises(ValueError, match="SigningKey") as caught:
            wh.validate_signing_key(bad_key)
        assert bad_key not in str(caught.value)


# --------------------------------------------------------------------------- router + worker


async def test_router_matches_by_type_and_action_and_falls_back() -> None:
    router = wh.Router()
    seen: list[str] = []

    @router.on("Work", "Updated")
    async def work_updated(event: wh.WebhookEvent) -> None:
        seen.append("work-updated")

    @router.on("work")
    async def any_work(event: wh.WebhookEvent) -> None:
        seen.append("any-work")

    @router.on("EstimateSummary")
    async def estimate(event: wh.WebhookEvent) -> None:
        seen.append("estimate")

    @router.fallback
    async def other(event: wh.WebhookEvent) -> None:
        seen.append(f"fallback-{event.resource_type}")

    async with wh.WebhookWorker(router) as worker:
        for payload in (
            body_of(key="a"),
            body_of(key="b", action="Deleted"),
            body_of(key="c", rtype="Estimate"),
            body_of(key="d", rtype="Project"),
        ):
            assert worker.submit(wh.parse_event(payload)) == wh.SubmitOutcome.ACCEPTED
        await worker.join()
    assert sorted(seen) == sorted(
        ["work-updated", "any-work", "any-work", "estimate", "fallback-Project"]
    )


async def test_unrouted_events_are_counted() -> None:
    async with wh.WebhookWorker(wh.Router()) as worker:
        worker.submit(event_of())
        await worker.join()
    assert worker.stats.unrouted == 1


async def test_duplicates_collapse_within_the_window() -> None:
    router = wh.Router()
    handled: list[wh.WebhookEvent] = []
    gate = asyncio.Event()
    clock = [1000.0]

    @router.on("Work")
    async def handle(event: wh.WebhookEvent) -> None:
        await gate.wait()
        handled.append(event)

    worker = wh.WebhookWorker(router, concurrency=1, dedupe_window=60, clock=lambda: clock[0])
    async with worker:
        later = NOW + dt.timedelta(seconds=5)
        assert worker.submit(event_of(key="blocker")) == wh.SubmitOutcome.ACCEPTED
        await asyncio.sleep(0)  # the single worker is now busy with "blocker"
        assert worker.submit(event_of(action="Inserted")) == wh.SubmitOutcome.ACCEPTED
        assert worker.submit(event_of(stamp=later)) == wh.SubmitOutcome.COLLAPSED
        assert worker.submit(event_of(key="W2")) == wh.SubmitOutcome.ACCEPTED
        gate.set()
        await worker.join()
        assert [(e.resource_perma_key, str(e.action_type)) for e in handled] == [
            ("blocker", "Updated"),
            ("W1", "Inserted"),  # Inserted then Updated: still new to the handler
            ("W2", "Updated"),
        ]
        assert handled[1].timestamp == later
        # The same change again within the window: a duplicate; a newer change is not.
        assert worker.submit(event_of(key="W2")) == wh.SubmitOutcome.DUPLICATE
        clock[0] += 61
        assert worker.submit(event_of(key="W2")) == wh.SubmitOutcome.ACCEPTED
        assert worker.submit(event_of(key="blocker", stamp=later)) == wh.SubmitOutcome.ACCEPTED
        await worker.join()
    assert worker.stats.duplicates == 1
    assert worker.stats.collapsed == 1
    assert len(handled) == 5


async def test_one_resource_is_never_handled_concurrently() -> None:
    router = wh.Router()
    active: set[str] = set()
    overlaps = 0
    count = 0

    @router.on("Work")
    async def handle(event: wh.WebhookEvent) -> None:
        nonlocal overlaps, count
        overlaps += event.resource_perma_key in active
        active.add(event.resource_perma_key)
        await asyncio.sleep(0.01)
        active.discard(event.resource_perma_key)
        count += 1

    async with wh.WebhookWorker(router, concurrency=4) as worker:
        worker.submit(event_of())
        await asyncio.sleep(0)
        for second in range(1, 4):  # newer changes while the first is being handled
            worker.submit(event_of(stamp=NOW + dt.timedelta(seconds=second)))
        await worker.join()
    assert overlaps == 0
    assert count == 2  # the first, then the three later ones merged into one


async def test_handler_failures_are_retried_then_dead_lettered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = wh.Router()
    calls = {"flaky": 0, "broken": 0}
    reported: list[wh.DeadLetter] = []

    @router.on("Work")
    async def flaky(event: wh.WebhookEvent) -> None:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise RuntimeError("transient")

    @router.on("Contact")
    async def broken(event: wh.WebhookEvent) -> None:
        calls["broken"] += 1
        raise RuntimeError("always")

    worker = wh.WebhookWorker(
        router, max_attempts=3, retry_delay=0.001, on_dead_letter=reported.append
    )
    with caplog.at_level(logging.WARNING, logger="karbon_async.webhooks"):
        async with worker:
            worker.submit(event_of())
            worker.submit(event_of(key="C1", rtype="Contact"))
            await worker.join()
    assert calls == {"flaky": 3, "broken": 3}
    assert worker.stats.retries == 4
    assert list(worker.dead_letters) == reported
    (letter,) = reported
    assert letter.event.resource_perma_key == "C1"
    assert letter.attempts == 3
    assert letter.handler is not None
    assert letter.handler.endswith("broken")
    assert isinstance(letter.error, RuntimeError)
    assert any("dead-lettered" in record.getMessage() for record in caplog.records)
    # A dead-lettered event is not remembered as done: a redelivery is processed again.
    async with worker:
        assert worker.submit(event_of(key="C1", rtype="Contact")) == wh.SubmitOutcome.ACCEPTED


async def test_stop_drains_then_dead_letters_what_is_left() -> None:
    router = wh.Router()
    done: list[str] = []

    @router.on("Work")
    async def slow(event: wh.WebhookEvent) -> None:
        await asyncio.sleep(0.05 if event.resource_perma_key == "fast" else 10)
        done.append(event.resource_perma_key)

    worker = wh.WebhookWorker(router, concurrency=1, drain_timeout=0.2)
    async with worker:
        worker.submit(event_of(key="fast"))
        worker.submit(event_of(key="slow"))
        worker.submit(event_of(key="never"))
    assert done == ["fast"]
    assert sorted((d.event.resource_perma_key, d.reason) for d in worker.dead_letters) == [
        ("never", "not processed before shutdown"),
        ("slow", "cancelled at shutdown"),
    ]
    assert worker.submit(event_of(key="late")) == wh.SubmitOutcome.STOPPED


async def test_queue_is_bounded() -> None:
    router = wh.Router()
    gate = asyncio.Event()

    @router.on("Work")
    async def wait(event: wh.WebhookEvent) -> None:
        await gate.wait()

    async with wh.WebhookWorker(router, concurrency=1, queue_size=2) as worker:
        outcomes = [worker.submit(event_of(key=f"k{i}")) for i in range(4)]
        assert outcomes == [wh.SubmitOutcome.ACCEPTED] * 2 + [wh.SubmitOutcome.QUEUE_FULL] * 2
        gate.set()
        await worker.join()


def test_fetch_routes_need_a_client() -> None:
    router = wh.Router()

    @router.on("Work", fetch=True)
    async def handle(event: wh.WebhookEvent, record: object) -> None: ...

    with pytest.raises(ValueError, match="client"):
        wh.WebhookWorker(router)


# --------------------------------------------------------------------------- receiver


class Sink:
    def __init__(self, outcome: wh.SubmitOutcome = wh.SubmitOutcome.ACCEPTED) -> None:
        self.events: list[wh.WebhookEvent] = []
        self.outcome = outcome

    def submit(self, event: wh.WebhookEvent) -> wh.SubmitOutcome:
        self.events.append(event)
        return self.outcome


def receiver_of(sink: Sink, **options: Any) -> wh.WebhookReceiver:
    options.setdefault("now", lambda: NOW)
    return wh.WebhookReceiver(KEY, sink, **options)


async def test_receiver_outcomes(caplog: pytest.LogCaptureFixture) -> None:
    sink = Sink()
    receiver = receiver_of(sink, max_body_size=1024, max_age=600)
    good = body_of()

    async def outcome(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        result = await receiver.receive(body, headers, remote="203.0.113.9")
        return result.status, result.reason

    with caplog.at_level(logging.INFO, logger="karbon_async.webhooks"):
        assert await outcome(good, signed(good)) == (202, "accepted")
        assert await outcome(good, signed(good)) == (200, "replayed")
        tampered = good.replace(b"W1", b"W9")
        assert await outcome(tampered, signed(good)) == (401, "signature mismatch")
        assert await outcome(good, signed(good, "wrong-key-0123456789")) == (
            401,
            "signature mismatch",
        )
        assert await outcome(good, {}) == (401, "missing signature")
        assert await outcome(good, {"Signature": "zz"}) == (401, "malformed signature")
        big = body_of(Padding="x" * 2000)
        assert await outcome(big, signed(big)) == (413, "body too large")
        text = {**signed(good), "Content-Type": "text/plain"}
        assert await outcome(good, text) == (415, "unsupported content type")
        junk = b"[]"
        assert await outcome(junk, signed(junk)) == (400, "invalid payload")
        old = body_of(key="W2", stamp=NOW - dt.timedelta(hours=1))
        assert await outcome(old, signed(old)) == (200, "stale")
        unknown = body_of(key="P1", rtype="Project", action="Archived")
        assert await outcome(unknown, signed(unknown)) == (202, "accepted")
        undated = body_of(key="W3", stamp=None)
        assert await outcome(undated, signed(undated)) == (202, "accepted")
    assert [e.resource_perma_key for e in sink.events] == ["W1", "P1", "W3"]
    assert receiver.stats["signature mismatch"] == 2
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert KEY not in logged
    assert "W9" not in logged
    assert "Padding" not in logged
    assert "203.0.113.9" in logged
    assert "signature mismatch" in logged
    assert KEY not in repr(receiver)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (wh.SubmitOutcome.COLLAPSED, 202),
        (wh.SubmitOutcome.DUPLICATE, 202),
        (wh.SubmitOutcome.QUEUE_FULL, 503),
        (wh.SubmitOutcome.STOPPED, 503),
    ],
)
async def test_receiver_maps_worker_outcomes(outcome: wh.SubmitOutcome, status: int) -> None:
    receiver = receiver_of(Sink(outcome))
    body = body_of()
    result = await receiver.receive(body, signed(body))
    assert (result.status, result.reason) == (status, outcome.value)
    # A 503 is not remembered, so Karbon's retry is accepted.
    again = await receiver.receive(body, signed(body))
    assert (again.reason == "replayed") == (status == 202)


async def test_aiohttp_handler_end_to_end() -> None:
    sink = Sink()
    receiver = receiver_of(sink, max_body_size=512)
    async with TestClient(TestServer(receiver.aiohttp_app("/hooks"))) as http:
        good = body_of()
        response = await http.post("/hooks", data=good, headers=signed(good))
        assert response.status == 202
        assert await response.text() == "accepted"
        response = await http.post("/hooks", data=good, headers=signed(good, "x" * 20))
        assert response.status == 401
        big = b"x" * 4096
        response = await http.post("/hooks", data=big, headers=signed(big))
        assert response.status == 413

        async def chunks() -> Any:  # no Content-Length: the limit still holds
            for _ in range(8):
                yield b"y" * 128

        response = await http.post("/hooks", data=chunks(), headers={"Signature": "0" * 64})
        assert response.status == 413
    assert len(sink.events) == 1


async def test_wildcard_routes_and_a_failing_dead_letter_callback() -> None:
    router = wh.Router()
    seen: list[str] = []

    @router.on("*", "Deleted")
    async def any_deleted(event: wh.WebhookEvent) -> None:
        seen.append(f"deleted-{event.resource_type}")

    @router.on(wh.ANY)
    async def everything(event: wh.WebhookEvent) -> None:
        raise RuntimeError("boom")

    def bad_callback(letter: wh.DeadLetter) -> None:
        raise ValueError("callback bug")

    worker = wh.WebhookWorker(router, max_attempts=1, on_dead_letter=bad_callback)
    async with worker:
        worker.submit(event_of(rtype="Invoice", action="Deleted"))
        worker.submit(event_of(rtype="Note", action="Updated"))
        await worker.join()
        assert worker.submit(event_of(key="again")) == wh.SubmitOutcome.ACCEPTED
        await worker.join()
    assert seen == ["deleted-Invoice"]
    assert len(worker.dead_letters) == 3


# --------------------------------------------------------------------------- receiver hardening


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


async def test_a_deeply_nested_signed_body_is_a_400_not_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = Sink()
    receiver = receiver_of(sink)
    deep = body_of(Extra="@")[:-1] + b', "Deep": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert len(deep) < receiver.max_body_size
    with pytest.raises(RecursionError):  # what the decoder does with it unguarded
        json.loads(deep)
    async with TestClient(TestServer(receiver.aiohttp_app("/hooks"))) as http:
        with caplog.at_level(logging.WARNING, logger="karbon_async.webhooks"):
            response = await http.post("/hooks", data=deep, headers=signed(deep))
            assert response.status == 400
            assert await response.text() == "payload nested too deeply"
            fine = body_of(Deep=nested(wh.MAX_NESTING_DEPTH - 1))
            response = await http.post("/hooks", data=fine, headers=signed(fine))
            assert response.status == 202
    assert len(sink.events) == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "payload nested too deeply" in caplog.records[0].getMessage()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:'),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), inner, max_size=3)
    ),
    max_leaves=60,
)


@settings(max_examples=200, deadline=None)
@given(extra=json_values, wrap=st.integers(min_value=0, max_value=40))
def test_nesting_limit_counts_real_depth_only(extra: Any, wrap: int) -> None:
    """Brackets, quotes and backslashes inside strings never count; real nesting always does."""
    value = extra
    for _ in range(wrap):
        value = [value]
    body = body_of(Extra=value)
    if 1 + depth_of(value) > wh.MAX_NESTING_DEPTH:
        with pytest.raises(wh.InvalidPayloadError) as refused:
            wh.parse_event(body)
        assert refused.value.reason == "payload nested too deeply"
    else:
        assert wh.parse_event(body).extra["Extra"] == value


async def test_a_timestamp_far_in_the_future_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Accepted and remembered, such a timestamp would make every genuine update of the
    resource until then look like a replay or a duplicate."""
    sink = Sink()
    receiver = receiver_of(sink)
    ahead = body_of(key="W1", stamp=NOW + dt.timedelta(days=30))
    slightly = body_of(key="W2", stamp=NOW + dt.timedelta(minutes=4))
    genuine = body_of(key="W1", stamp=NOW)
    async with TestClient(TestServer(receiver.aiohttp_app("/hooks"))) as http:
        with caplog.at_level(logging.WARNING, logger="karbon_async.webhooks"):
            response = await http.post("/hooks", data=ahead, headers=signed(ahead))
            assert (response.status, await response.text()) == (400, "timestamp in the future")
            response = await http.post("/hooks", data=slightly, headers=signed(slightly))
            assert response.status == 202  # within the default 5 minutes of clock skew
            response = await http.post("/hooks", data=genuine, headers=signed(genuine))
            assert (response.status, await response.text()) == (202, "accepted")
    assert [(e.resource_perma_key, e.timestamp) for e in sink.events] == [
        ("W2", NOW + dt.timedelta(minutes=4)),
        ("W1", NOW),
    ]
    assert ["timestamp in the future" in r.getMessage() for r in caplog.records] == [True]

    lenient = receiver_of(Sink(), max_future_skew=None)
    assert (await lenient.receive(ahead, signed(ahead))).status == 202
    strict = receiver_of(Sink(), max_future_skew=60)
    assert (await strict.receive(slightly, signed(slightly))).status == 400


async def test_a_flood_of_rejections_logs_one_warning_per_reason_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [1000.0]
    receiver = receiver_of(Sink(), clock=lambda: clock[0], log_interval=60)
    good = body_of()
    forged = signed(good, "wrong-key-0123456789")
    app = receiver.aiohttp_app("/hooks")
    async with TestClient(TestServer(app)) as http:
        with caplog.at_level(logging.DEBUG, logger="karbon_async.webhooks"):
            for _ in range(300):
                response = await http.post("/hooks", data=good, headers=forged)
                assert response.status == 401
            unsigned = {"Content-Type": "application/json"}
            response = await http.post("/hooks", data=good, headers=unsigned)
            assert response.status == 401  # another reason: its own warning
            clock[0] += 59
            await http.post("/hooks", data=good, headers=forged)
            clock[0] += 1
            await http.post("/hooks", data=good, headers=forged)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(warnings) == 3
    assert "signature mismatch" in warnings[0]
    assert "more since" not in warnings[0]
    assert "missing signature" in warnings[1]
    assert "signature mismatch" in warnings[2]
    assert "(300 more since the last warning, logged at DEBUG)" in warnings[2]
    assert len(debug) == 300
    assert receiver.stats["signature mismatch"] == 302
