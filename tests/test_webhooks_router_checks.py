"""Router routes are checked when registered: handler kind, arity against fetch=, and names."""

from __future__ import annotations

import functools
import re
from typing import Any
from unittest.mock import AsyncMock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbon_async import webhooks as wh


async def one(event: wh.WebhookEvent) -> None: ...


async def two(event: wh.WebhookEvent, record: Any) -> None: ...


async def star(*args: Any) -> None: ...


async def kwargs_only(**kwargs: Any) -> None: ...


async def optional_record(event: wh.WebhookEvent, record: Any = None) -> None: ...


async def three(event: wh.WebhookEvent, record: Any, extra: Any) -> None: ...


async def needs_keyword(event: wh.WebhookEvent, *, flag: bool) -> None: ...


async def nothing() -> None: ...


async def bound_first(prefix: str, event: wh.WebhookEvent) -> None: ...


class AsyncCallable:
    async def __call__(self, event: wh.WebhookEvent) -> None: ...


class AsyncCallableWithRecord:
    async def __call__(self, event: wh.WebhookEvent, record: Any) -> None: ...


class SyncCallable:
    def __call__(self, event: wh.WebhookEvent) -> None: ...


class Handlers:
    async def method(self, event: wh.WebhookEvent) -> None: ...


def sync(event: wh.WebhookEvent) -> None: ...


async def agen(event: wh.WebhookEvent) -> Any:
    yield event


ACCEPTED: list[tuple[object, bool]] = [
    (one, False),
    (two, True),
    (star, False),
    (star, True),
    (optional_record, False),
    (optional_record, True),
    (AsyncCallable(), False),
    (AsyncCallableWithRecord(), True),
    (Handlers().method, False),
    (functools.partial(bound_first, "p"), False),
    (AsyncMock(), True),
]


@pytest.mark.parametrize(("handler", "fetch"), ACCEPTED)
def test_async_handlers_of_the_right_arity_are_registered(handler: Any, fetch: bool) -> None:
    router = wh.Router()
    decorated = router.on("Work", fetch=fetch)(handler)
    assert decorated is handler
    assert router.routes[0].handler is handler
    assert router.routes[0].fetch is fetch


REFUSED: list[tuple[object, bool, str]] = [
    (sync, False, r"sync must be an async function .*await handler\(event\)"),
    (SyncCallable(), False, "must be an async function"),
    (lambda event: one(event), False, "must be an async function"),
    (agen, False, "must be an async function"),
    ("one", False, "must be an async function, not 'one'"),
    (one, True, r"one\(event.*\) cannot be called as handler\(event, record\).*fetch=True it"),
    (two, False, r"cannot be called as handler\(event\).*pass fetch=True"),
    (AsyncCallableWithRecord(), False, "pass fetch=True"),
    (three, True, r"cannot be called as handler\(event, record\)"),
    (three, False, r"handler\(event\): missing .*argument"),
    (needs_keyword, False, "flag"),
    (nothing, False, "too many"),
    (kwargs_only, False, "too many"),
]


@pytest.mark.parametrize(("handler", "fetch", "message"), REFUSED)
def test_wrong_handlers_fail_at_registration(handler: Any, fetch: bool, message: str) -> None:
    router = wh.Router()
    with pytest.raises(TypeError, match=message):
        router.on("Work", fetch=fetch)(handler)
    with pytest.raises(TypeError, match=message):
        router.add("Work", None, handler, fetch=fetch)
    assert router.routes == []


@pytest.mark.parametrize(("handler", "message"), [(sync, "async function"), (two, "fetch=True")])
def test_fallback_handlers_are_checked(handler: Any, message: str) -> None:
    router = wh.Router()
    with pytest.raises(TypeError, match=message):
        router.fallback(handler)
    assert router.fallbacks == []
    assert router.fallback(star) is star


@pytest.mark.parametrize(
    ("resource", "suggestion"),
    [
        ("Wrok", "Work"),
        ("wrok", "Work"),
        ("Contacts", "Contact"),
        ("Invoise", "Invoice"),
        ("NoteComent", "NoteComment"),
        ("EstimateSumary", "EstimateSummary"),
        ("Integration Tsk", "IntegrationTask"),
    ],
)
def test_a_misspelt_resource_type_suggests_the_closest_name(resource: str, suggestion: str) -> None:
    router = wh.Router()
    with pytest.raises(ValueError, match=f"did you mean '{suggestion}'") as caught:
        router.on(resource)
    assert "allow_unknown=True" in str(caught.value)
    with pytest.raises(ValueError, match=f"did you mean '{suggestion}'"):
        router.add(resource, None, one)
    assert router.routes == []


def test_a_misspelt_action_suggests_the_closest_name() -> None:
    with pytest.raises(ValueError, match="unknown webhook action 'Updatd': did you mean 'Updated'"):
        wh.Router().on("Work", "Updatd")
    with pytest.raises(ValueError, match="unknown webhook action 'Archived'") as caught:
        wh.Router().on("Work", "Archived")
    assert "did you mean" not in str(caught.value)
    assert "Inserted, Updated, Deleted" in str(caught.value)


@pytest.mark.parametrize("name", ["Organization", "Organizations", "client_group"])
def test_names_delivered_as_contact_say_so(name: str) -> None:
    with pytest.raises(ValueError, match="arrive as 'Contact' events"):
        wh.Router().on(name)


def test_bad_name_types_and_empty_names() -> None:
    router = wh.Router()
    with pytest.raises(TypeError, match="resource must be"):
        router.on(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="action must be"):
        router.on("Work", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        router.on(" ", allow_unknown=True)
    with pytest.raises(ValueError, match="must not be empty"):
        router.on("Work", "", allow_unknown=True)


async def test_allow_unknown_routes_names_the_sdk_does_not_know_yet() -> None:
    router = wh.Router()
    seen: list[str] = []

    @router.on("Project", "Archived", allow_unknown=True)
    async def project(event: wh.WebhookEvent) -> None:
        seen.append(event.resource_perma_key)

    route = router.routes[0]
    assert route.resource_type is not None
    assert not route.resource_type.is_known
    assert route.action is not None
    assert not route.action.is_known
    async with wh.WebhookWorker(router) as worker:
        for key, rtype, action in (("P1", "Project", "Archived"), ("P2", "Project", "Updated")):
            worker.submit(
                wh.WebhookEvent(
                    resource_perma_key=key,
                    resource_type=wh.WebhookResourceType(rtype),
                    action_type=wh.WebhookActionType(action),
                )
            )
        await worker.join()
    assert seen == ["P1"]


def test_known_names_in_any_spelling_and_any() -> None:
    router = wh.Router()
    router.on("WORK", "updated")(one)
    router.on(wh.WebhookResourceType.CONTACT, wh.WebhookActionType.DELETED)(one)
    router.on("*", "*")(one)
    router.on(wh.ANY)(one)
    router.on("custom_field")(one)
    assert [(r.resource_type, r.action) for r in router.routes] == [
        (wh.WebhookResourceType.WORK, wh.WebhookActionType.UPDATED),
        (wh.WebhookResourceType.CONTACT, wh.WebhookActionType.DELETED),
        (None, None),
        (None, None),
        (wh.WebhookResourceType.CUSTOM_FIELD_VALUE, None),
    ]


_KNOWN = {
    name.replace(" ", "").replace("_", "").replace("-", "").casefold()
    for name in [*(m.value for m in wh.WebhookResourceType), *wh.RESOURCE_ALIASES]
}


@given(st.text(alphabet=st.characters(codec="ascii", categories=("L",)), min_size=1, max_size=20))
def test_every_name_is_either_routed_or_refused_with_a_value_error(name: str) -> None:
    router = wh.Router()
    if name.casefold() in _KNOWN:
        router.on(name)(one)
        assert router.routes[0].resource_type is not None
        assert router.routes[0].resource_type.is_known
    else:
        with pytest.raises(ValueError, match=re.escape(repr(name))):
            router.on(name)
        router.on(name, allow_unknown=True)(one)
        assert router.routes[0].resource_type == wh.WebhookResourceType(name)
