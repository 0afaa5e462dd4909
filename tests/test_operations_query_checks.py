"""The endpoint checks of query options: every combination of field, operator and function an
endpoint accepts passes, every other one is refused with a ValueError before any request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import models as m
from karbon_async._generated import OPERATIONS, FilterRule, OperationSpec
from karbon_async._odata import COMPARISONS, DATE_PARTS, TEXT_FUNCTIONS, F, Filter
from karbon_async._query import render_expand, render_filter, render_orderby
from karbon_async._resources import RESOURCES
from karbon_async._transport import Request, Response

WORDS = (*COMPARISONS, "in", "any", *TEXT_FUNCTIONS, *DATE_PARTS)

CHECKED = {op_id: op for op_id, op in OPERATIONS.items() if op.filters}


def value_for(rule: FilterRule | None) -> str:
    return rule.values[0] if rule is not None and rule.values else "v'1"


def clause(field: str, word: str, value: Any) -> Filter:
    f = F[field]
    if word in COMPARISONS:
        return getattr(f, f"__{word}__")(value)  # type: ignore[no-any-return]
    if word == "in":
        return f.in_([value])
    if word == "any":
        return f.any_in([value])
    if word in TEXT_FUNCTIONS:
        return getattr(f, word)(str(value))  # type: ignore[no-any-return]
    return getattr(f, word)() == 4  # type: ignore[no-any-return]


def allowed(rule: FilterRule | None, word: str) -> bool:
    if rule is None:
        return False
    if word in DATE_PARTS:
        return word in rule.functions and "eq" in rule.operators
    if word in TEXT_FUNCTIONS:
        return word in rule.functions
    return word in rule.operators


def combinations() -> Iterator[tuple[str, str, str]]:
    for op_id, op in CHECKED.items():
        for rule in op.filters or ():
            for word in WORDS:
                yield op_id, rule.field, word
        for word in WORDS:
            yield op_id, "NoSuchField", word


ALL = list(combinations())


def test_every_allowed_combination_is_accepted_and_every_other_refused() -> None:
    accepted = refused = 0
    for op_id, field, word in ALL:
        op = CHECKED[op_id]
        rule = op.filter_rule(field)
        expression = clause(field, word, value_for(rule))
        if allowed(rule, word):
            assert render_filter(expression, op), (op_id, field, word)
            accepted += 1
        else:
            with pytest.raises(ValueError, match=f"^{op.name}: "):
                render_filter(expression, op)
            refused += 1
    assert accepted > 60
    assert refused > 300


@given(st.lists(st.sampled_from(ALL), min_size=1, max_size=4), st.booleans())
def test_combined_filters_pass_only_when_every_clause_does(
    picks: list[tuple[str, str, str]], use_or: bool
) -> None:
    op_id = picks[0][0]
    op = CHECKED[op_id]
    parts = [
        (field, word) for other, field, word in picks if other == op_id
    ]  # one endpoint at a time
    expression = clause(parts[0][0], parts[0][1], value_for(op.filter_rule(parts[0][0])))
    for field, word in parts[1:]:
        more = clause(field, word, value_for(op.filter_rule(field)))
        expression = (expression | more) if use_or else ~(expression & more)
    if all(allowed(op.filter_rule(field), word) for field, word in parts):
        render_filter(expression, op)
    else:
        with pytest.raises(ValueError):
            render_filter(expression, op)


@pytest.mark.parametrize(
    ("attribute", "expression", "message"),
    [
        ("contacts", F.FullName != "Ann", "Contacts: FullName supports eq, contains(); 'ne'"),
        ("organizations", F.FullName != "A", "'ne' is not allowed"),
        ("contacts", F.FullName.startswith("A"), "'startswith()' is not allowed"),
        ("organizations", F.FullName.startswith("A"), "'startswith()' is not allowed"),
        ("client_groups", F.FullName.startswith("A"), "'startswith()' is not allowed"),
        ("client_groups", F.FullName.contains("A"), "ClientGroups: FullName supports eq;"),
        ("work_items", F.Title.startswith("A"), "'startswith()' is not allowed"),
        ("work_items", F.ClientKey.contains("A"), "ClientKey supports eq;"),
        ("work_items", F.StartDate > "2026-01-01", "StartDate supports ge, le;"),
        ("time_entries", F.Date.day() == 4, "'day()' is not allowed"),
        ("invoices", F.InvoiceDate == "x", "cannot filter on 'InvoiceDate'"),
        ("invoices", F.InvoiceStatus == "Draft", "InvoiceStatus is one of Approved"),
        ("payments", F.PaymentKey == "x", "does not take $filter"),
    ],
)
def test_live_refusals_are_refused_before_sending(
    attribute: str, expression: Filter, message: str
) -> None:
    sent: list[Request] = []

    class Transport:
        async def send(self, request: Request, **_: object) -> Response:
            sent.append(request)
            raise AssertionError("nothing may be sent")

        async def aclose(self) -> None:
            pass

    client = ka.KarbonClient(
        bearer_token="t", access_key="k", base_url="http://127.0.0.1:9", transport=Transport()
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(client, attribute).list(filter=expression)
    assert sent == []


def test_accepted_live_facts() -> None:
    templates = OPERATIONS["getAllWorkTemplates"]
    assert render_filter(F.Title.startswith("Pay"), templates) == "startswith(Title,'Pay')"
    timesheets = OPERATIONS["getAllTimesheets"]
    assert render_filter(F.StartDate.month() == 4, timesheets) == "month(StartDate) eq 4"
    invoices = OPERATIONS["getInvoices"]
    typed = F.InvoiceStatus == m.InvoiceStatus.APPROVED
    assert render_filter(typed, invoices) == "InvoiceStatus eq 'Approved'"
    assert render_filter("anything goes", invoices) == "anything goes"  # raw: as written


def test_primary_status_is_spelled_spaced_in_filters_only() -> None:
    work_items = OPERATIONS["getAllWorkItems"]
    for unspaced, spaced in (("InProgress", "In Progress"), ("ReadyToStart", "Ready To Start")):
        rendered = render_filter(F.PrimaryStatus == unspaced, work_items)
        assert rendered == f"PrimaryStatus eq '{spaced}'"
    enum_value = render_filter(F.PrimaryStatus == m.PrimaryStatus.IN_PROGRESS, work_items)
    assert enum_value == "PrimaryStatus eq 'In Progress'"
    with pytest.raises(ValueError, match="PrimaryStatus is one of"):
        render_filter(F.PrimaryStatus == "Paused", work_items)


def test_expand_is_checked_and_sent_in_the_spec_order() -> None:
    invoice = OPERATIONS["getInvoiceByKey"]
    assert render_expand(["Data", "LineItems", "Payments"], invoice) == "LineItems,Payments,Data"
    assert render_expand("Payments,LineItems", invoice) == "LineItems,Payments"
    for op_id in ("getAllWorkTemplates", "getWorkScheduleByID", "getInvoices"):
        with pytest.raises(ValueError, match="options: none"):
            render_expand("Anything", OPERATIONS[op_id])


@given(st.permutations(["LineItems", "Payments", "Data"]), st.integers(1, 3))
def test_expand_order_never_depends_on_the_caller(names: list[str], size: int) -> None:
    chosen = names[:size]
    rendered = render_expand(chosen, OPERATIONS["getInvoiceByKey"]).split(",")
    assert rendered == [n for n in ("LineItems", "Payments", "Data") if n in chosen]


def test_orderby_is_checked_where_fields_are_known() -> None:
    invoices = OPERATIONS["getInvoices"]
    assert render_orderby("InvoiceDate desc", invoices) == "InvoiceDate desc"
    with pytest.raises(ValueError, match="sortable: InvoiceDate, CreatedAt"):
        render_orderby("TotalAmount", invoices)
    templates = OPERATIONS["getAllWorkTemplates"]
    assert "DateLastWorkItemCreated" in (templates.orderby or ())
    assert not any(field.endswith("desc") for field in templates.orderby or ())
    with pytest.raises(ValueError, match="does not take \\$orderby"):
        render_orderby("Name", OPERATIONS["getAllUsers"])


def test_every_list_operation_states_its_query_facts() -> None:
    """A list endpoint never silently skips the checks it could make from the spec."""
    for attribute, resource_class in RESOURCES.items():
        endpoint = vars(resource_class).get("list")
        spec: OperationSpec[Any, Any] | None = getattr(endpoint, "spec", None)
        if spec is None or not spec.is_list:
            continue
        assert spec.expand is not None, attribute
        assert spec.orderby is not None, attribute
        if "$filter" in spec.query_params and spec.operation_id != "ListIntegrationTasks":
            assert spec.filters, attribute
