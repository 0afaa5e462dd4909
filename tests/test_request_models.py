"""Request models: what live Karbon accepts can be sent (omitted != null, live-accepted nulls,
numeric strings), and every value that does not fit a field's declared type is refused before
anything is sent, with an error naming the field (issue 19, items 3 and 5)."""

from __future__ import annotations

import datetime as dt
import re
import typing
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_request_building import RecordingTransport, client_with, ok, sent_json

from karbon_async import models as m
from karbon_async._converter import _is_model, _union_args, api_name, structure
from karbon_async._encode import request_document
from karbon_async._exceptions import ModelDecodeError, ResponseDecodeError
from karbon_async._generated.operations import OPERATIONS
from karbon_async._model_base import UNSET, KarbonEnum, KarbonModel, Unset
from karbon_async._retry import RetryPolicy
from karbon_async._sender import encode_json, json_document
from karbon_async._transport import Response

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)


def work_item(**fields: Any) -> m.CreateWorkItemRequest:
    base: dict[str, Any] = {
        "title": "T",
        "assignee_email_address": "a@example.com",
        "client_key": "C1",
        "client_type": m.ClientType.CONTACT,
        "start_date": NOW,
        "work_type": "Tax",
    }
    return m.CreateWorkItemRequest(**{**base, **fields})


SCHEDULE: dict[str, Any] = {
    "recurrence_frequency": m.RecurrenceFrequency.WEEK,
    "custom_frequency_multiple": 1,
    "schedule_start_date": NOW,
    "schedule_due_date_method": m.ScheduleDueDateMethod.DAYS_FROM_START_DATE,
    "prevent_start_end_on_weekend": False,
    "initialize_tasks_before_start_date_units": m.TimeUnit.DAYS,
    "initialize_tasks_before_start_date_multiple": 1,
    "work_item_title_definition": "Weekly",
}


# --- item 3: omitted and null are different; what live accepted can be sent -----------------


@pytest.mark.parametrize(
    ("model", "path", "key"),
    [
        # Postman '#5170 Update WorkItem': 204 with these nulls.
        (work_item(work_template_key=None), (), "WorkTemplateKey"),
        (work_item(work_schedule_key=None), (), "WorkScheduleKey"),
        # Postman '#5170 Create WorkSchedule' (201) and '#5170 Update Work Schedule' (204).
        (
            m.CreateWorkScheduleRequest(
                created_from_work_item_key="W1", schedule_due_date_month_multiple=None, **SCHEDULE
            ),
            (),
            "ScheduleDueDateMonthMultiple",
        ),
        (
            m.ReplaceWorkScheduleRequest(
                work_schedule_key="S1", schedule_due_date_month_multiple=None, **SCHEDULE
            ),
            (),
            "ScheduleDueDateMonthMultiple",
        ),
        # The spec's own prose: set ScheduleEndDate to null to run forever.
        (
            m.ReplaceWorkScheduleRequest(
                work_schedule_key="S1", schedule_end_date=None, **SCHEDULE
            ),
            (),
            "ScheduleEndDate",
        ),
        # Postman '#4350 Update Contact with extra CRM Fields' (204).
        (
            m.ReplaceContactRequest(first_name="A", last_name="B", client_owner=None),
            (),
            "ClientOwner",
        ),
        (
            m.ReplaceContactRequest(first_name="A", last_name="B", client_manager=None),
            (),
            "ClientManager",
        ),
        (
            m.ReplaceContactRequest(first_name="A", last_name="B", contact_type=None),
            (),
            "ContactType",
        ),
        # Postman '#4350 Update Organization with CRM Fields' (204).
        (m.ReplaceOrganizationRequest(full_name="O", contact_type=None), (), "ContactType"),
        (
            m.ReplaceContactRequest(
                first_name="A",
                last_name="B",
                accounting_detail=m.DetailsOfAccountingInput(financial_year_end_day=None),
            ),
            ("AccountingDetail",),
            "FinancialYearEndDay",
        ),
    ],
)
def test_a_null_live_accepted_is_sent_and_an_unset_field_is_not(
    model: KarbonModel, path: tuple[str, ...], key: str
) -> None:
    body: Any = request_document(model)
    for step in path:
        body = body[step]
    assert key in body
    assert body[key] is None
    # The same model with the field left unset sends nothing for it.
    holder: Any = model
    for step in path:
        holder = getattr(holder, _field_name(type(holder), step))
    field = _field_name(type(holder), key)
    unset = attrs.evolve(holder, **{field: UNSET})
    assert key not in request_document(unset)


def _field_name(cls: type[Any], key: str) -> str:
    return next(f.name for f in attrs.fields(cls) if api_name(f) == key)


@pytest.mark.parametrize(
    ("day", "month", "sent"),
    [("11", "0", (11, 0)), (11, 0, (11, 0)), ("31", "12", (31, 12))],
)
def test_financial_year_end_takes_the_numeric_strings_live_accepted(
    day: Any, month: Any, sent: tuple[int, int]
) -> None:
    # Postman '#4350 Create Contact with extra CRM Fields': "11" and "0" were answered 201, and
    # come back as integers; the SDK sends the integers (one form on the wire).
    detail = m.DetailsOfAccountingInput(financial_year_end_day=day, financial_year_end_month=month)
    body = request_document(
        m.CreateContactRequest(first_name="A", last_name="B", accounting_detail=detail)
    )
    assert (
        body["AccountingDetail"]["FinancialYearEndDay"],
        body["AccountingDetail"]["FinancialYearEndMonth"],
    ) == sent
    assert all(type(v) is int for v in body["AccountingDetail"].values())


@pytest.mark.parametrize("bad", ["eleven", "1.5", " 11", "", "-1", 1.5, True])
def test_financial_year_end_refuses_what_is_not_a_whole_number(bad: Any) -> None:
    detail = m.DetailsOfAccountingInput(financial_year_end_day=bad)
    with pytest.raises(TypeError, match=r"DetailsOfAccountingInput\.FinancialYearEndDay"):
        request_document(detail)


def _schedule_record(**changes: Any) -> dict[str, Any]:
    record = {
        "WorkScheduleKey": "S1",
        "ClientKey": "C1",
        "ClientType": "Contact",
        "CreatedFromWorkItemKey": None,  # the spec: "This value will be `null`" on every GET
        "RecurrenceFrequency": "Week",
        "CustomFrequencyMultiple": 1,
        "ScheduleStartDate": "2026-04-01T00:00:00Z",
        "ScheduleEndDate": None,
        "ScheduleDueDateMethod": "DaysFromStartDate",
        "ScheduleDueDateDays": 7,
        "ScheduleDueDateMonthMultiple": None,
        "AssigneeUserKey": "U1",
        "PreventStartEndOnWeekend": True,
        "InitializeTasksBeforeStartDateUnits": "Days",
        "InitializeTasksBeforeStartDateMultiple": 2,
        "WorkItemTitleDefinition": "Weekly",
    }
    record.update(changes)
    return record


async def test_modify_works_on_a_schedule_fetched_with_a_null_created_from_work_item_key() -> None:
    transport = RecordingTransport(
        lambda request: (
            ok(request, _schedule_record()) if request.method == "GET" else ok(request, None, 204)
        )
    )
    async with client_with(transport) as client:
        schedule = await client.work_schedules.modify(
            "S1", lambda body: attrs.evolve(body, work_item_title_definition="Changed")
        )
    assert isinstance(schedule, m.WorkSchedule)
    put = next(request for request in transport.sent if request.method == "PUT")
    body = sent_json(put)
    assert isinstance(body, dict)
    assert body["WorkItemTitleDefinition"] == "Changed"
    assert body["WorkScheduleKey"] == "S1"
    # Nulls nobody set are not sent; the key the GET could not give is left out, not nulled.
    assert "CreatedFromWorkItemKey" not in body
    assert "ScheduleDueDateMonthMultiple" not in body
    assert "ScheduleEndDate" not in body


async def test_modify_keeps_a_created_from_work_item_key_the_get_gave() -> None:
    transport = RecordingTransport(
        lambda request: (
            ok(request, _schedule_record(CreatedFromWorkItemKey="W9"))
            if request.method == "GET"
            else ok(request, None, 204)
        )
    )
    async with client_with(transport) as client:
        await client.work_schedules.modify("S1", lambda body: body)
    put = next(request for request in transport.sent if request.method == "PUT")
    body = sent_json(put)
    assert isinstance(body, dict)
    assert body["CreatedFromWorkItemKey"] == "W9"


# --- item 5: every bad input typed before sending --------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "where"),
    [
        (lambda: work_item(title=123), TypeError, r"CreateWorkItemRequest\.Title must be a str"),
        (lambda: work_item(start_date="tomorrow"), ValueError, r"CreateWorkItemRequest\.StartDate"),
        (lambda: work_item(start_date=20260401), TypeError, r"CreateWorkItemRequest\.StartDate"),
        (lambda: work_item(client_type=3), TypeError, r"CreateWorkItemRequest\.ClientType"),
        (
            lambda: work_item(estimated_budget="12"),
            TypeError,
            r"CreateWorkItemRequest\.EstimatedBudget",
        ),
        (
            lambda: work_item(estimated_budget=True),
            TypeError,
            r"CreateWorkItemRequest\.EstimatedBudget",
        ),
        (
            lambda: work_item(estimated_budget=Decimal("sNaN")),
            ValueError,
            r"CreateWorkItemRequest\.EstimatedBudget",
        ),
        (
            lambda: work_item(fee_settings={"FeeType": "FixedFee"}),
            TypeError,
            r"CreateWorkItemRequest\.FeeSettings must be a WorkFeeSettings",
        ),
        (
            lambda: work_item(user_role_assignments="nope"),
            TypeError,
            r"CreateWorkItemRequest\.UserRoleAssignments must be a list",
        ),
        (lambda: work_item(title=UNSET), ValueError, r"CreateWorkItemRequest\.Title is required"),
        (
            lambda: work_item(extra={"Title": 123}),
            ValueError,
            r"CreateWorkItemRequest\.extra: Title belong",
        ),
        (
            lambda: m.CreateContactRequest(
                first_name="A",
                last_name="B",
                business_cards=[m.BusinessCardRequestInput(is_primary_card="yes")],
            ),
            TypeError,
            r"CreateContactRequest\.BusinessCards\[0\]\.IsPrimaryCard must be a bool",
        ),
        (
            lambda: m.CreateManualPaymentRequest(
                invoice_key="I1",
                payment_method=m.PaymentMethod.CASH,
                payment_date="31/03/2026",
                total_amount=Decimal("1"),
            ),
            ValueError,
            r"CreateManualPaymentRequest\.PaymentDate",
        ),
    ],
)
async def test_a_value_of_the_wrong_type_is_refused_before_sending(
    build: Any, error: type[Exception], where: str
) -> None:
    with pytest.raises(error, match=where):
        request_document(build())
    transport = RecordingTransport()
    async with client_with(transport) as client:
        model = build()
        create: Any = (
            client.work_items.create
            if isinstance(model, m.CreateWorkItemRequest)
            else client.contacts.create
            if isinstance(model, m.CreateContactRequest)
            else client.manual_payments.create
        )
        with pytest.raises(error, match=where):
            await create(model)
    assert transport.sent == []


@pytest.mark.parametrize(
    "bad", [Decimal("NaN"), Decimal("-Infinity"), float("nan"), float("inf"), Decimal("sNaN")]
)
async def test_a_non_finite_manual_payment_is_a_value_error_naming_the_field(bad: Any) -> None:
    # It used to escape as decimal.InvalidOperation (or AttributeError) from the limit check.
    with pytest.raises(ValueError, match="TotalAmount") as caught:
        m.CreateManualPaymentRequest(
            invoice_key="I1",
            payment_method=m.PaymentMethod.CASH,
            payment_date=dt.date(2026, 3, 31),
            total_amount=bad,
        )
    assert type(caught.value) is ValueError


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2026-04-01", "2026-04-01T00:00:00Z"),
        ("2026-04-01T10:00:00+10:00", "2026-04-01T10:00:00+10:00"),
        ("2026-04-01T00:00:00.1234567Z", "2026-04-01T00:00:00.123456Z"),
        (dt.date(2026, 4, 1), "2026-04-01T00:00:00Z"),
        (dt.datetime(2026, 4, 1), "2026-04-01T00:00:00Z"),
    ],
)
def test_a_date_time_given_as_text_or_date_is_parsed_and_sent_in_the_api_form(
    given: Any, sent: str
) -> None:
    body = request_document(work_item(start_date=given))
    assert body["StartDate"] == sent


@pytest.mark.parametrize(
    ("given", "sent"), [("2026-03-31", "2026-03-31"), (dt.date(2026, 3, 31), "2026-03-31")]
)
def test_a_date_given_as_text_is_parsed(given: Any, sent: str) -> None:
    payment = m.CreateManualPaymentRequest(
        invoice_key="I1",
        payment_method=m.PaymentMethod.CASH,
        payment_date=given,
        total_amount=Decimal("1"),
    )
    assert request_document(payment)["PaymentDate"] == sent


def test_a_datetime_in_a_date_field_is_refused() -> None:
    payment = m.CreateManualPaymentRequest(
        invoice_key="I1",
        payment_method=m.PaymentMethod.CASH,
        payment_date=NOW,
        total_amount=Decimal("1"),
    )
    with pytest.raises(TypeError, match=r"CreateManualPaymentRequest\.PaymentDate must be a date"):
        request_document(payment)


# --- every field of every request model: property tests --------------------------------------


def _request_classes() -> list[type[KarbonModel]]:
    found: dict[type[KarbonModel], None] = {}

    def walk(tp: Any) -> None:
        for arg in _union_args(tp):
            if typing.get_origin(arg) is list:
                for item in typing.get_args(arg):
                    walk(item)
            elif _is_model(arg) and arg not in found:
                found[arg] = None
                attrs.resolve_types(arg)
                for field in attrs.fields(arg):
                    if field.name != "extra":
                        walk(field.type)

    for operation in OPERATIONS.values():
        if operation.request_model is not None:
            walk(operation.request_model)
    return list(found)


REQUEST_CLASSES = _request_classes()
FIELDS = [
    (cls, field)
    for cls in REQUEST_CLASSES
    for field in attrs.fields(cls)
    if field.name != "extra" and field.init
]


def _kinds(field: attrs.Attribute[Any]) -> list[Any]:
    return [a for a in _union_args(field.type) if a is not type(None) and a is not Unset]


def _limits(field: attrs.Attribute[Any]) -> Any:
    return field.validator if type(field.validator).__name__ == "_Limits" else None


def _valid_text(field: attrs.Attribute[Any]) -> str:
    limits = _limits(field)
    text = "x" * max(1, (limits.min_length or 0) if limits else 0)
    return (limits.prefix or "") + text if limits else text


def _valid(tp: Any, field: attrs.Attribute[Any]) -> Any:
    if tp is str:
        return _valid_text(field)
    if tp is int:
        return 1
    if tp is bool:
        return True
    if tp is Decimal:
        return Decimal("1")
    if tp is dt.datetime:
        return NOW
    if tp is dt.date:
        return NOW.date()
    if tp is bytes:
        return b"x"
    if isinstance(tp, type) and issubclass(tp, KarbonEnum):
        return next(iter(tp))
    if _is_model(tp):
        return _minimal(tp)
    if typing.get_origin(tp) is list:
        return []
    return "x"


def _minimal(cls: type[KarbonModel]) -> Any:
    """An instance with only its required fields, each a valid value."""
    return cls(
        **{
            field.alias: _valid(_kinds(field)[0], field)
            for field in attrs.fields(cls)
            if field.name != "extra" and field.default is attrs.NOTHING
        }
    )


def _wrong(tp: Any, field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    """Values that do not fit ``tp`` (whatever else they are)."""
    containers = st.one_of(st.lists(st.integers(), min_size=1, max_size=2), st.just({"k": 1}))
    if tp is str or (isinstance(tp, type) and issubclass(tp, KarbonEnum)):
        return st.one_of(st.integers(), st.floats(), st.booleans(), containers)
    if tp is int:
        digits = re.compile("[0-9]+")
        text = st.text(max_size=5).filter(lambda s: not digits.fullmatch(s))
        return st.one_of(text, st.booleans(), st.floats(), st.decimals(allow_nan=False), containers)
    if tp is bool:
        return st.one_of(st.integers(), st.text(max_size=5), containers)
    if tp is Decimal:
        return st.one_of(
            st.text(max_size=5),
            st.booleans(),
            containers,
            st.sampled_from([Decimal("NaN"), float("inf")]),
        )
    if tp in (dt.datetime, dt.date):
        text = st.text(alphabet="abcxyz -:", max_size=12)
        return st.one_of(st.integers(), st.booleans(), text, containers)
    if tp is bytes:
        return st.one_of(st.text(max_size=3), st.integers(), containers)
    if _is_model(tp):
        return st.one_of(st.text(max_size=3), st.integers(), st.just({"Key": "x"}))
    if typing.get_origin(tp) is list:
        return st.one_of(st.text(max_size=3), st.integers(), st.just({"k": 1}))
    return st.nothing()


@pytest.mark.parametrize(
    ("cls", "field"),
    [pair for pair in FIELDS if len(_kinds(pair[1])) == 1],
    ids=lambda value: getattr(value, "__name__", None) or getattr(value, "name", None),
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_field_refuses_a_wrong_typed_value_naming_it(
    cls: type[KarbonModel], field: attrs.Attribute[Any], data: st.DataObject
) -> None:
    (kind,) = _kinds(field)
    bad = data.draw(_wrong(kind, field))
    key = api_name(field)
    with pytest.raises((TypeError, ValueError)) as caught:
        request_document(attrs.evolve(_minimal(cls), **{field.alias: bad}))
    assert re.search(rf"\b{re.escape(key)}\b", str(caught.value)), str(caught.value)
    assert type(caught.value) in (TypeError, ValueError)


def _good(tp: Any, field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    limits = _limits(field)
    if tp is str:
        if limits is not None and (limits.pattern or limits.prefix or limits.min_length):
            return st.just(_valid_text(field))
        size = limits.max_length if limits is not None and limits.max_length else 20
        return st.text(max_size=size)
    if tp is int:
        return st.integers(min_value=1, max_value=10**6)
    if tp is bool:
        return st.booleans()
    if tp is Decimal:
        return st.decimals(min_value=1, max_value=10**9, places=2, allow_nan=False)
    if tp is dt.datetime:
        return st.datetimes(min_value=dt.datetime(1900, 1, 1), timezones=st.just(dt.timezone.utc))
    if tp is dt.date:
        return st.dates(min_value=dt.date(1900, 1, 1))
    if isinstance(tp, type) and issubclass(tp, KarbonEnum):
        return st.sampled_from(list(tp))
    return st.just(_valid(tp, field))


JSON_CLASSES = [  # CreateFileRequest is sent as multipart form data, not JSON
    cls for cls in REQUEST_CLASSES if all(bytes not in _kinds(f) for f in attrs.fields(cls))
]


@pytest.mark.parametrize("cls", JSON_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_valid_value_round_trips(cls: type[KarbonModel], data: st.DataObject) -> None:
    chosen: dict[str, Any] = {}
    for field in attrs.fields(cls):
        if field.name == "extra" or (
            field.default is not attrs.NOTHING and not data.draw(st.booleans())
        ):
            continue
        kinds = _kinds(field)
        if not kinds:
            continue
        chosen[field.alias] = data.draw(_good(kinds[0], field))
    model = attrs.evolve(_minimal(cls), **chosen)
    wire = encode_json(request_document(model))  # as sent
    assert structure(json_document(wire), cls) == model


# --- a write whose answer cannot be decoded was not repeated, and says so --------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [(b"{not json", ResponseDecodeError), (b"[1, 2]", ModelDecodeError)],
)
async def test_a_post_whose_reply_cannot_be_decoded_says_not_repeated(
    reply: bytes, error: type[Exception]
) -> None:
    transport = RecordingTransport(
        lambda request: Response(status=201, headers={}, body=reply, url=request.url)
    )
    async with client_with(transport) as client:
        client = client.with_options(retry=RetryPolicy(max_attempts=3))  # type: ignore[assignment]
        with pytest.raises(error) as caught:
            await client.work_items.create(work_item())
    assert caught.value.not_repeated is True  # type: ignore[attr-defined]
    assert caught.value.method == "POST"  # type: ignore[attr-defined]
    assert caught.value.url.endswith("/v3/WorkItems")  # type: ignore[attr-defined]
    assert len(transport.sent) == 1


async def test_a_get_whose_reply_cannot_be_decoded_is_not_marked_not_repeated() -> None:
    transport = RecordingTransport(
        lambda request: Response(status=200, headers={}, body=b"{not json", url=request.url)
    )
    async with client_with(transport) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.work_items.get("W1")
    assert caught.value.not_repeated is False


def test_a_secret_of_the_wrong_type_is_refused_without_showing_it() -> None:
    secret = b"do-not-show-this-signing-key"
    body = m.CreateWebhookSubscriptionRequest(
        target_url="https://example.com/hook",
        webhook_type=m.WebhookType.CONTACT,
        signing_key=secret,  # type: ignore[arg-type]
    )
    with pytest.raises(TypeError, match=r"CreateWebhookSubscriptionRequest\.SigningKey") as caught:
        request_document(body)
    assert "do-not-show" not in str(caught.value)
