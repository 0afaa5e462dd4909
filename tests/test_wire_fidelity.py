"""What goes on the wire and what comes back: enum spellings, UNSET at any depth, nulls, strict
decoding with field paths, and JSON -> model -> JSON round-trips for every generated model.

Each ``test_bug_*`` failed before request bodies and decoding were made faithful to the spec.
"""

from __future__ import annotations

import datetime as dt
import types
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_generated_models import MODELS, REQUEST_SIDE, limits_of, number_bounds, text_strategy

from karbon_async import models as m
from karbon_async._converter import (
    api_name,
    format_datetime,
    structure,
    unstructure,
    without_nulls,
)
from karbon_async._encode import request_document
from karbon_async._exceptions import ModelDecodeError, ResponseDecodeError
from karbon_async._model_base import UNSET, KarbonEnum, KarbonModel
from karbon_async._write_endpoints import as_request

NOW = dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc)


def work_item(**kwargs: Any) -> m.CreateWorkItemRequest:
    values: dict[str, Any] = {
        "assignee_email_address": "a@example.com",
        "title": "Tax",
        "client_key": "C1",
        "client_type": m.ClientType.CONTACT,
        "start_date": NOW,
    }
    return m.CreateWorkItemRequest(**{**values, **kwargs})


# --- 1. enum spellings ------------------------------------------------------------------------


def test_bug_requests_send_the_spec_spelling_of_enums() -> None:
    body = request_document(
        work_item(
            primary_status=m.PrimaryStatus.IN_PROGRESS,
            fee_settings=m.WorkFeeSettings(fee_type=m.FeeType.FIXED_FEE, fee_value=Decimal(5)),
        )
    )
    assert body["PrimaryStatus"] == "InProgress"
    assert body["FeeSettings"] == {"FeeType": "FixedFee", "FeeValue": Decimal(5)}
    assert [s.value for s in m.PrimaryStatus] == [
        "Planned",
        "ReadyToStart",
        "InProgress",
        "Waiting",
        "Completed",
    ]
    assert [f.value for f in m.FeeType] == ["FixedFee", "TimeAndMaterials", "NonBillable"]


def test_payment_methods_are_the_spec_spellings_and_the_guide_ones_decode() -> None:
    spec = ["Bank Transfer", "Direct Debit", "Credit Card Online", "Credit Card Office"]
    assert [p.value for p in m.PaymentMethod][:4] == spec
    assert m.PaymentMethod("EFT") is m.PaymentMethod.EFT  # the guide's, kept as members
    assert m.PaymentMethod("Credit Card") is m.PaymentMethod.CREDIT_CARD
    folded = m.PaymentMethod("BankTransfer")
    assert folded == m.PaymentMethod.BANK_TRANSFER
    assert folded.value == "BankTransfer"
    assert m.PaymentMethod.DIRECT_DEBIT.spellings == ("Direct Debit", "DirectDebit")


@pytest.mark.parametrize("text", ["In Progress", "in progress", "IN_PROGRESS", "in-progress"])
def test_bug_a_folded_spelling_re_encodes_as_received(text: str) -> None:
    item = structure({"WorkItemKey": "W1", "PrimaryStatus": text}, m.WorkItem)
    status = item.primary_status
    assert status == m.PrimaryStatus.IN_PROGRESS
    assert status == m.PrimaryStatus.IN_PROGRESS
    assert status == "InProgress"
    assert status == "In Progress"
    assert status != m.PrimaryStatus.WAITING
    assert status != "Waiting"
    assert hash(status) == hash(m.PrimaryStatus.IN_PROGRESS)
    assert {status: 1}[m.PrimaryStatus.IN_PROGRESS] == 1
    assert status is not None
    assert status.is_known
    assert status.name == "IN_PROGRESS"
    assert status.canonical is m.PrimaryStatus.IN_PROGRESS
    assert unstructure(item)["PrimaryStatus"] == text
    assert str(status) == text


def test_other_spellings_are_discoverable() -> None:
    assert m.PrimaryStatus.IN_PROGRESS.spellings == ("InProgress", "In Progress")
    assert m.PrimaryStatus.IN_PROGRESS.spaced == "In Progress"
    assert m.PrimaryStatus("In Progress").spaced == "In Progress"
    assert m.PrimaryStatus.PLANNED.spellings == ("Planned",)
    assert m.PrimaryStatus("On Hold").spellings == ("On Hold",)


def test_unknown_values_keep_plain_string_semantics() -> None:
    new = m.PrimaryStatus("On Hold")
    assert not new.is_known
    assert new == "On Hold"
    assert new != "OnHold"
    assert new != m.PrimaryStatus.WAITING
    assert hash(new) == hash("On Hold")


ENUMS = [obj for obj in vars(m).values() if isinstance(obj, type) and issubclass(obj, KarbonEnum)]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda enum: enum.__name__)
def test_every_member_decodes_to_itself_and_every_variant_to_an_equal_alias(
    enum: type[KarbonEnum],
) -> None:
    for member in enum:
        assert structure(member.value, enum) is member
        for variant in (member.value.upper(), member.value.lower(), member.value.replace(" ", "")):
            decoded = structure(variant, enum)
            assert decoded == member
            assert unstructure(decoded) == variant


# --- 2. only what the user set, at any depth ----------------------------------------------------


def test_bug_nested_optional_fields_are_left_out() -> None:
    card = m.BusinessCardRequestInput(is_primary_card=True, email_addresses=["a@example.com"])
    contact = m.CreateContactRequest(first_name="Ada", last_name="Lovelace", business_cards=[card])
    assert request_document(contact) == {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "BusinessCards": [{"IsPrimaryCard": True, "EmailAddresses": ["a@example.com"]}],
    }
    assert request_document(
        m.CreateContactRequest(
            first_name="Ada", last_name="L", accounting_detail=m.DetailsOfAccountingInput()
        )
    ) == {"FirstName": "Ada", "LastName": "L", "AccountingDetail": {}}


def test_a_null_the_spec_allows_is_sent_when_set() -> None:
    fees = m.WorkFeeSettings(fee_type=m.FeeType.TIME_AND_MATERIALS, fee_value=None)
    body = request_document(work_item(fee_settings=fees, deadline_date=None))
    assert body["FeeSettings"] == {"FeeType": "TimeAndMaterials", "FeeValue": None}
    assert body["DeadlineDate"] is None
    assert "DueDate" not in body


@pytest.mark.parametrize(
    ("build", "path"),
    [
        (
            lambda: m.CreateContactRequest(
                first_name="A",
                last_name="B",
                accounting_detail=m.DetailsOfAccountingInput(accounting=None),  # type: ignore[arg-type]
            ),
            "CreateContactRequest.AccountingDetail.Accounting may not be null",
        ),
        (
            lambda: m.CreateContactRequest(
                first_name="A",
                last_name="B",
                business_cards=[m.BusinessCardRequestInput(business_card_key=None)],  # type: ignore[arg-type]
            ),
            r"CreateContactRequest.BusinessCards\[0\].BusinessCardKey may not be null",
        ),
        (
            lambda: work_item(fee_settings=m.WorkFeeSettings(fee_type=None)),
            "CreateWorkItemRequest.FeeSettings.FeeType may not be null",
        ),
        (
            lambda: m.CreateContactRequest(first_name=None, last_name="B"),  # type: ignore[arg-type]
            "CreateContactRequest.FirstName may not be null",
        ),
    ],
)
def test_bug_a_null_the_spec_forbids_is_refused_with_its_path(build: Any, path: str) -> None:
    with pytest.raises(ValueError, match=path):
        request_document(build())


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_bug_non_finite_numbers_are_refused(bad: Decimal) -> None:
    fees = m.WorkFeeSettings(fee_type=m.FeeType.FIXED_FEE, fee_value=bad)
    with pytest.raises(ValueError, match=r"FeeSettings\.FeeValue"):
        request_document(work_item(fee_settings=fees))
    with pytest.raises(ValueError, match="NaN or infinity"):
        request_document(work_item(extra={"Weird": [float("nan")]}))


def test_bug_writing_back_a_record_drops_server_nulls_the_spec_forbids() -> None:
    record = structure(
        {
            "ContactKey": "C1",
            "FirstName": "Ada",
            "LastName": "Lovelace",
            "MiddleName": None,  # the spec does not allow null here; the API sends it anyway
            "BusinessCards": [{"BusinessCardKey": None, "IsPrimaryCard": True}],
            "AccountingDetail": {"Sex": None, "Accounting": None, "LegalFirm": None},
        },
        m.Contact,
    )
    body = as_request(record, m.CreateContactRequest)
    document = request_document(body)
    assert "MiddleName" not in document
    assert document["BusinessCards"] == [{"IsPrimaryCard": True}]
    assert document["AccountingDetail"] == {}  # nulls nobody set are never sent


def test_without_nulls_keeps_unknown_keys_and_allowed_null_items() -> None:
    document = {"FeeType": None, "FeeValue": None, "Later": None}
    assert without_nulls(document, m.WorkFeeSettings) == {"Later": None}
    group = {"Members": [None, {"ContactKey": None, "OrganizationKey": "O"}], "FullName": None}
    assert without_nulls(group, m.CreateClientGroupRequest) == {
        "Members": [None, {"OrganizationKey": "O"}]
    }


# --- 3. decoding ------------------------------------------------------------------------------


def test_bug_null_in_a_string_list_is_none_not_the_text_none() -> None:
    entry = structure({"Descriptions": ["a", None]}, m.GetSingleTimeSheetTimeEntry)
    assert entry.descriptions == ["a", None]


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        ({"WorkItemKey": "W", "Title": 5}, "WorkItem.Title", "not a string: 5"),
        ({"WorkItemKey": 7}, "WorkItem.WorkItemKey", "not a string: 7"),
        (
            {"WorkItemKey": "W", "FeeSettings": {"FeeValue": "abc"}},
            "WorkItem.FeeSettings.FeeValue",
            "not a number: 'abc'",
        ),
        (
            {"WorkItemKey": "W", "FeeSettings": {"FeeValue": "NaN"}},
            "WorkItem.FeeSettings",
            "finite",
        ),
        ({"WorkItemKey": "W", "EstimatedBudget": True}, "WorkItem.EstimatedBudget", "number"),
        (
            {"WorkItemKey": "W", "UserRoleAssignments": [{}, 3]},
            r"WorkItem.UserRoleAssignments\[1\]",
            "JSON object",
        ),
        ({"WorkItemKey": "W", "PrimaryStatus": 3}, "WorkItem.PrimaryStatus", "not a string"),
        ({"Title": "no key"}, "WorkItem.WorkItemKey", "required, but missing"),
    ],
)
def test_bug_a_decode_error_names_the_field(body: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ModelDecodeError, match=f"{path}.*{reason}") as caught:
        structure(body, m.WorkItem)
    assert isinstance(caught.value, ResponseDecodeError)
    assert isinstance(caught.value, ValueError)
    assert caught.value.path.startswith("WorkItem.")


def test_scalars_are_strict() -> None:
    with pytest.raises(ModelDecodeError, match="boolean"):
        structure({"ClientAccessActivated": "false"}, m.TenantSettings)
    with pytest.raises(ModelDecodeError, match="integer"):
        structure({"ContactKey": "C", "AccountingDetail": {"FinancialYearEndDay": 1.5}}, m.Contact)
    whole = structure(
        {"ContactKey": "C", "AccountingDetail": {"FinancialYearEndDay": 2.0}}, m.Contact
    )
    assert whole.accounting_detail is not None
    assert whole.accounting_detail.financial_year_end_day == 2


def test_bug_null_items_of_a_nullable_array_decode() -> None:
    group = structure(
        {"ClientGroupKey": "G1", "Members": [None, {"ContactKey": "C1"}]}, m.ClientGroup
    )
    assert group.members is not None
    assert group.members[0] is None
    assert unstructure(group)["Members"] == [None, {"ContactKey": "C1"}]


def test_bug_plain_strings_are_not_parsed_as_datetimes() -> None:
    invoice = structure({"InvoiceKey": "I", "InvoiceDate": "2024-06-30"}, m.Invoice)
    assert invoice.invoice_date == "2024-06-30"
    assert attrs.fields_dict(attrs.resolve_types(m.Invoice))["invoice_date"].type == str | None


def test_bug_a_key_in_another_case_lands_in_its_field() -> None:
    statuses = structure(
        {"Primary": ["In Progress"], "Secondary": ["k1"], "Other": 1},
        m.SettingWorkTypeAvailableStatuses,
    )
    assert statuses.primary == ["In Progress"]
    assert statuses.secondary == ["k1"]
    assert statuses.extra == {"Other": 1}
    exact = structure({"primary": ["a"], "Primary": ["b"]}, m.SettingWorkTypeAvailableStatuses)
    assert exact.primary == ["a"]  # the schema's own spelling wins; the other is kept in extra
    assert exact.extra == {"Primary": ["b"]}


@pytest.mark.parametrize(
    ("cls", "key"),
    [
        (m.Contact, "contact_key"),
        (m.ContactSummary, "contact_key"),
        (m.WorkItem, "work_item_key"),
        (m.WorkItemSummary, "work_item_key"),
        (m.Organization, "organization_key"),
        (m.ClientGroup, "client_group_key"),
        (m.User, "id"),
    ],
)
def test_bug_record_keys_are_required_strings(cls: type[KarbonModel], key: str) -> None:
    field = attrs.fields_dict(attrs.resolve_types(cls))[key]
    assert field.type is str
    assert field.default is attrs.NOTHING


# --- 4. JSON -> model -> JSON ---------------------------------------------------------------


JSON_SCALARS = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=5), inner, max_size=2)
    ),
    max_leaves=4,
)
UNKNOWN_KEYS = st.text(min_size=1, max_size=6).map(lambda text: f"Unknown_{text}")


def enum_json(enum: type[KarbonEnum]) -> st.SearchStrategy[str]:
    values = [member.value for member in enum]
    respelled = st.sampled_from(values).flatmap(
        lambda value: st.sampled_from(
            [value, value.upper(), value.lower(), value.replace(" ", ""), value.replace(" ", "_")]
        )
    )
    others = [text for member in enum for text in member.spellings]
    return respelled | st.sampled_from(others) | st.sampled_from(["Brand New", "x-y"])


def json_for(tp: Any, depth: int, limits: Any = None) -> st.SearchStrategy[Any]:
    """JSON the API could send for a field of type ``tp``, in the form the SDK writes back
    (within the documented limits of a request field)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [arg for arg in get_args(tp) if get_origin(arg) is not Literal]
        return st.one_of([json_for(arg, depth, limits) for arg in args])
    if tp is type(None):
        return st.none()
    if origin is list:
        (item,) = get_args(tp)
        if limits is not None and limits.item_max_length is not None:
            return st.lists(st.text(max_size=limits.item_max_length), max_size=2)
        return st.lists(json_for(item, depth + 1), max_size=0 if depth > 2 else 2)
    if origin is dict or tp is Any:
        return JSON_VALUES
    if tp is str:
        return text_strategy(limits)
    if tp is bool:
        return st.booleans()
    if tp is int:
        low, high = number_bounds(limits)
        return st.integers(
            int(low) if low is not None else -(2**31), int(high) if high is not None else 2**31
        )
    if tp is Decimal:
        low, high = number_bounds(limits)
        return st.decimals(
            low if low is not None else -(10**9),
            high if high is not None else 10**9,
            places=3,
            allow_nan=False,
            allow_infinity=False,
        )
    if tp is dt.datetime:
        return st.datetimes(
            min_value=dt.datetime(1900, 1, 1), timezones=st.just(dt.timezone.utc)
        ).map(format_datetime)
    if tp is dt.date:
        return st.dates(min_value=dt.date(1900, 1, 1)).map(dt.date.isoformat)
    if isinstance(tp, type) and issubclass(tp, KarbonEnum):
        return enum_json(tp)
    if isinstance(tp, type) and issubclass(tp, KarbonModel):
        return model_json(tp, depth + 1)
    raise AssertionError(f"no JSON strategy for {tp!r}")


def model_json(cls: type[KarbonModel], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(attrs.resolve_types(cls)):
        if field.name == "extra":
            continue
        value = json_for(field.type, depth, limits_of(field))
        if field.default is UNSET:
            optional[api_name(field)] = value  # absent is a value of its own: left out again
        elif field.default is None and depth > 2:
            required[api_name(field)] = st.none()
        else:
            required[api_name(field)] = value  # a response field: absent would come back null
    known = st.fixed_dictionaries(required, optional=optional)
    unknown = st.dictionaries(UNKNOWN_KEYS, JSON_VALUES, max_size=2)
    return st.tuples(known, unknown).map(lambda parts: {**parts[0], **parts[1]})


JSON_MODELS = [
    cls
    for cls in MODELS
    if not any("bytes" in str(field.type) for field in attrs.fields(attrs.resolve_types(cls)))
]


@pytest.mark.parametrize("cls", JSON_MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_round_trip(cls: type[KarbonModel], data: st.DataObject) -> None:
    document = data.draw(model_json(cls))
    decoded = structure(document, cls)
    assert unstructure(decoded) == document
    assert structure(unstructure(decoded), cls) == decoded
    if cls in REQUEST_SIDE:
        try:
            sent = request_document(decoded)
        except ValueError as exc:
            assert "may not be null" in str(exc)  # noqa: PT017
        else:
            assert sent == document
