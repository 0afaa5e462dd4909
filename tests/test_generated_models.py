"""Property and behaviour tests of the generated models and the operation table.

Strategies are derived generically from the attrs fields and type hints of every model in
``karbon_async.models``; nothing here reads the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from karbon_async import models
from karbon_async._converter import api_name, structure, unstructure
from karbon_async._exceptions import ModelDecodeError
from karbon_async._generated import OPERATIONS
from karbon_async._model_base import UNSET, KarbonEnum, KarbonModel

MODELS: list[type[KarbonModel]] = [
    obj
    for name in models.__all__
    if isinstance(obj := getattr(models, name), type) and issubclass(obj, KarbonModel)
]
ENUMS: list[type[KarbonEnum]] = [
    obj
    for name in models.__all__
    if isinstance(obj := getattr(models, name), type) and issubclass(obj, KarbonEnum)
]

JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=12)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
UNKNOWN_KEYS = st.text(min_size=1, max_size=8).map(lambda text: f"Unknown_{text}")


def limits_of(field: attrs.Attribute[Any]) -> Any:
    validator = field.validator
    return validator if validator is not None and hasattr(validator, "max_length") else None


def text_strategy(limits: Any) -> st.SearchStrategy[str]:
    if limits is None:
        return st.text(max_size=20)
    low = limits.min_length or 0
    high = limits.max_length if limits.max_length is not None else max(low, 20) + 10
    if limits.pattern is not None:
        match = re.fullmatch(r"\^(\[[^\]]+\])\+\$", limits.pattern)
        assert match, f"test cannot derive strings for pattern {limits.pattern}"
        return st.from_regex(f"{match.group(1)}{{{max(low, 1)},{high}}}", fullmatch=True)
    prefix = limits.prefix or ""
    return st.text(min_size=max(low - len(prefix), 0), max_size=high - len(prefix)).map(
        lambda rest: prefix + rest
    )


def number_bounds(limits: Any) -> tuple[Decimal | None, Decimal | None]:
    if limits is None:
        return None, None
    low = None
    if limits.minimum is not None:
        low = Decimal(limits.minimum)
    if limits.exclusive_minimum is not None:
        low = Decimal(limits.exclusive_minimum) + Decimal("0.0001")
    high = Decimal(limits.maximum) if limits.maximum is not None else None
    return low, high


def strategy_for(tp: Any, limits: Any = None, depth: int = 0) -> st.SearchStrategy[Any]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return st.one_of([strategy_for(arg, limits, depth) for arg in get_args(tp)])
    if origin is Literal:
        return st.sampled_from(get_args(tp))
    if tp is type(None):
        return st.none()
    if origin is list:
        (item,) = get_args(tp)
        if limits is not None and limits.item_max_length is not None:
            return st.lists(st.text(max_size=limits.item_max_length), max_size=3)
        return st.lists(strategy_for(item, None, depth + 1), max_size=2 if depth else 3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3)
    if tp is Any:
        return JSON_VALUES
    if tp is str:
        return text_strategy(limits)
    if tp is bool:
        return st.booleans()
    if tp is int:
        low, high = number_bounds(limits)
        return st.integers(
            min_value=int(low) if low is not None else -(2**31),
            max_value=int(high) if high is not None else 2**31,
        )
    if tp is Decimal:
        low, high = number_bounds(limits)
        return st.decimals(
            min_value=low if low is not None else Decimal(-(10**9)),
            max_value=high if high is not None else Decimal(10**9),
            places=4,
            allow_nan=False,
            allow_infinity=False,
        )
    if tp is dt.datetime:
        return st.datetimes(
            min_value=dt.datetime(1900, 1, 1),
            max_value=dt.datetime(2200, 1, 1),
            timezones=st.just(dt.timezone.utc),
        )
    if tp is dt.date:
        return st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 1, 1))
    if tp is bytes:
        return st.binary(max_size=16)
    if isinstance(tp, type) and issubclass(tp, KarbonEnum):
        return st.sampled_from(list(tp)) | st.sampled_from(
            ["Some New Value", "Brand-new", "x y z"]
        ).map(tp)
    if isinstance(tp, type) and issubclass(tp, KarbonModel):
        return model_strategy(tp, depth + 1)
    raise AssertionError(f"no strategy for {tp!r}")


def model_strategy(cls: type[KarbonModel], depth: int = 0) -> st.SearchStrategy[KarbonModel]:
    attrs.resolve_types(cls)
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(cls):
        if field.name == "extra":
            kwargs["extra"] = st.dictionaries(UNKNOWN_KEYS, JSON_VALUES, max_size=2)
            continue
        strategy = strategy_for(field.type, limits_of(field), depth)
        if depth > 2 and field.default is not attrs.NOTHING:
            strategy = st.just(field.default)  # keep deep trees small
        kwargs[field.name] = strategy
    return st.builds(cls, **kwargs)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(cls: type[KarbonModel], data: st.DataObject) -> None:
    model = data.draw(model_strategy(cls))
    encoded = unstructure(model)
    assert structure(encoded, cls) == model


def test_every_model_and_enum_is_public() -> None:
    assert len(MODELS) > 100
    assert len(ENUMS) > 20
    assert len(set(models.__all__)) == len(models.__all__)


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_json_keys_are_unique(cls: type[KarbonModel]) -> None:
    names = [api_name(field) for field in attrs.fields(cls) if field.name != "extra"]
    assert len(names) == len(set(names))


def models_in(tp: Any) -> list[type[KarbonModel]]:
    if isinstance(tp, type) and issubclass(tp, KarbonModel):
        return [tp]
    return [found for arg in get_args(tp) for found in models_in(arg)]


def reachable(roots: list[type[KarbonModel]]) -> set[type[KarbonModel]]:
    seen: set[type[KarbonModel]] = set()
    stack = list(roots)
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.add(cls)
            stack += [m for f in attrs.fields(attrs.resolve_types(cls)) for m in models_in(f.type)]
    return seen


# Every model a request body can contain; the others are response-only.
REQUEST_SIDE = reachable([op.request_model for op in OPERATIONS.values() if op.request_model])
RESPONSE_MODELS = [cls for cls in MODELS if cls not in REQUEST_SIDE]


def record_key(cls: type[KarbonModel]) -> attrs.Attribute[Any] | None:
    required = [f for f in attrs.fields(cls) if f.default is attrs.NOTHING]
    assert len(required) <= 1, f"{cls.__name__}: a response model requires only its key"
    return required[0] if required else None


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda cls: cls.__name__)
def test_nulls_and_unknown_fields_decode(cls: type[KarbonModel]) -> None:
    key = record_key(cls)
    body: dict[str, Any] = {api_name(f): None for f in attrs.fields(cls) if f.name != "extra"}
    if key is not None:
        body[api_name(key)] = "K1"
    body["SomethingNew"] = {"Nested": [1, "two"]}
    decoded = structure(body, cls)
    for f in attrs.fields(cls):
        if f.name not in ("extra", getattr(key, "name", None)):
            assert getattr(decoded, f.name) is None
    assert decoded.extra == {"SomethingNew": {"Nested": [1, "two"]}}
    assert unstructure(decoded) == body


@pytest.mark.parametrize(
    "cls", [cls for cls in RESPONSE_MODELS if record_key(cls) is not None], ids=lambda c: c.__name__
)
def test_a_record_without_its_key_does_not_decode(cls: type[KarbonModel]) -> None:
    key = record_key(cls)
    assert key is not None
    assert key.type is str
    with pytest.raises(ModelDecodeError, match=f"{cls.__name__}.{api_name(key)}: required"):
        structure({}, cls)


def test_seven_digit_fractions_and_offsets() -> None:
    item = structure(
        {
            "WorkItemKey": "W1",
            "StartDate": "2022-07-05T07:30:13.7188114Z",
            "DueDate": "2022-07-05T07:30:13+00:00",
        },
        models.WorkItem,
    )
    assert item.start_date == dt.datetime(2022, 7, 5, 7, 30, 13, 718811, tzinfo=dt.timezone.utc)
    assert item.due_date == dt.datetime(2022, 7, 5, 7, 30, 13, tzinfo=dt.timezone.utc)


def test_unknown_and_respelled_enum_values() -> None:
    item = structure({"WorkItemKey": "W1", "PrimaryStatus": "InProgress"}, models.WorkItem)
    assert item.primary_status is models.PrimaryStatus.IN_PROGRESS
    assert models.PrimaryStatus("Ready To Start") == models.PrimaryStatus("ReadyToStart")
    assert models.FeeType("FixedFee") is models.FeeType.FIXED_FEE
    new = structure({"WorkItemKey": "W1", "PrimaryStatus": "On Hold"}, models.WorkItem)
    assert new.primary_status is not None
    assert not new.primary_status.is_known
    assert unstructure(new)["PrimaryStatus"] == "On Hold"


def test_odata_and_irregular_keys_round_trip() -> None:
    body = {
        "@odata.type": "#KarbonService.ContactSummaryDTO",
        "ContactKey": "29YXnqWcqCf3",
        "@odata.context": "https://api.karbonhq.com/v3/$metadata#Contacts",
    }
    contact = structure(body, models.ContactSummary)
    assert contact.odata_type == "#KarbonService.ContactSummaryDTO"
    assert contact.contact_key == "29YXnqWcqCf3"
    encoded = unstructure(contact)
    assert {key: value for key, value in encoded.items() if value is not None} == body


def test_patch_bodies_send_only_what_was_set() -> None:
    assert unstructure(models.PatchContactRequest(first_name="Bill")) == {"FirstName": "Bill"}
    cleared = models.PatchWorkScheduleRequest(schedule_end_date=None)
    assert unstructure(cleared) == {"ScheduleEndDate": None}
    assert unstructure(models.PatchWorkItemRequest()) == {}


def test_required_request_fields() -> None:
    with pytest.raises(TypeError):
        models.CreateContactRequest(first_name="Only")  # type: ignore[call-arg]
    contact = models.CreateContactRequest(first_name="Ada", last_name="Lovelace")
    assert unstructure(contact)["FirstName"] == "Ada"


def webhook(**kwargs: Any) -> models.CreateWebhookSubscriptionRequest:
    values: dict[str, Any] = {
        "target_url": "https://example.com/hook",
        "webhook_type": models.WebhookType.CONTACT,
    }
    values.update(kwargs)
    return models.CreateWebhookSubscriptionRequest(**values)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: webhook(target_url="http://example.com/hook"), "TargetUrl"),
        (lambda: webhook(target_url="https://" + "a" * 2000), "TargetUrl"),
        (lambda: webhook(signing_key="short"), "SigningKey"),
        (lambda: webhook(signing_key="has spaces in it, no good"), "SigningKey"),
        (
            lambda: models.CreateManualPaymentRequest(
                invoice_key="k",
                payment_method=models.PaymentMethod.CASH,
                payment_date=dt.date(2024, 6, 30),
                total_amount=Decimal("0"),
            ),
            "TotalAmount",
        ),
        (
            lambda: models.CreateExpenseRequest(
                timeline=models.Timeline(entity_key="k"),
                expense_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                value=Decimal("-1"),
                billable_value=Decimal("0"),
                description="Courier",
            ),
            "Value",
        ),
        (
            lambda: models.CreateExpenseRequest(
                timeline=models.Timeline(entity_key="k"),
                expense_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
                value=Decimal("1"),
                billable_value=Decimal("0"),
                description="x" * 251,
            ),
            "Description",
        ),
        (lambda: models.PatchWorkItemRequest(title="t" * 201), "Title"),
    ],
)
def test_request_validators_reject_bad_values(build: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()


def test_request_validators_accept_good_values() -> None:
    hook = webhook(signing_key="96434E14-3C96-4F07-9FC2-CCC736827309")
    assert unstructure(hook)["SigningKey"] == "96434E14-3C96-4F07-9FC2-CCC736827309"
    assert models.PatchWorkItemRequest(title=UNSET).title is UNSET


def test_operation_table() -> None:
    assert len(OPERATIONS) == 74
    assert all(key == spec.operation_id for key, spec in OPERATIONS.items())
    for spec in OPERATIONS.values():
        assert spec.method in {"GET", "POST", "PUT", "PATCH", "DELETE"}
        assert tuple(re.findall(r"{([^}]+)}", spec.path)) == spec.path_params
        if spec.paginated:
            assert spec.is_list
            assert spec.response_model is not None
            assert issubclass(spec.response_model, KarbonModel)
        for model in (spec.request_model, spec.response_model):
            assert model is None or issubclass(model, KarbonModel)
    contacts = OPERATIONS["getAllContacts"]
    assert contacts.response_model is models.ContactSummary
    assert contacts.max_page_size == 100
    assert OPERATIONS["getAllIndividualTimeEntries"].max_page_size == 1000
    assert OPERATIONS["patchContactsByID"].request_model is models.PatchContactRequest


# --- names ----------------------------------------------------------------------------------


def test_deprecated_names_warn_and_resolve_to_the_new_classes() -> None:
    table: dict[str, str] = models._DEPRECATED_NAMES
    assert table["CreateContact"] == "CreateContactRequest"
    for old, new in table.items():
        assert old not in models.__all__
        with pytest.warns(DeprecationWarning, match=rf"\b{old}\b.*use {new}$"):
            resolved = getattr(models, old)
        assert resolved is getattr(models, new)
    with pytest.raises(AttributeError, match="NoSuchModel"):
        getattr(models, "NoSuchModel")  # noqa: B009  # the name must not resolve quietly


def _reachable(root: type[Any]) -> set[type[KarbonModel]]:
    """The model classes a model's fields can hold, at any depth."""
    seen: set[type[KarbonModel]] = set()
    stack: list[Any] = [root]
    while stack:
        tp = stack.pop()
        if isinstance(tp, type) and issubclass(tp, KarbonModel):
            if tp not in seen:
                seen.add(tp)
                stack += [f.type for f in attrs.fields(attrs.resolve_types(tp))]
        else:
            stack += get_args(tp)
    return seen


def test_request_bodies_follow_the_naming_scheme() -> None:
    scheme = re.compile(r"(Create|Replace|Patch|Add|Remove|Reverse)[A-Z]\w*Request")
    bodies = {op.request_model for op in OPERATIONS.values() if op.request_model}
    for body in bodies:
        assert scheme.fullmatch(body.__name__), body.__name__
        for inner in _reachable(body) - {body}:
            assert not inner.__name__.endswith("Request"), (body, inner)
    # the PUT name of a body shared with the POST is the same class
    assert models.ReplaceContactRequest is models.CreateContactRequest


def test_responses_never_hold_request_models() -> None:
    responses = {op.response_model for op in OPERATIONS.values() if op.response_model}
    for response in responses:
        for inner in _reachable(response):
            assert not re.search(r"Request|Input", inner.__name__), (response, inner)
    hints = attrs.fields_dict(attrs.resolve_types(models.Contact))
    assert hints["business_cards"].type == list[models.BusinessCard] | None
