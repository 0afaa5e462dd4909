"""Invoices as the invoices guide and the 2025-09 release note describe them: TaxLocation, the
Data entries, and the tax read from whichever side TaxLocation names."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from _fake_helpers import fake_client
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import models as m

TAX_FIELDS = ("TaxRate", "TaxRateName", "TaxAmount")

money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)
maybe_tax = st.one_of(
    st.none(),
    st.fixed_dictionaries({"TaxRate": money, "TaxRateName": st.sampled_from(["GST", "VAT"])}),
)


@st.composite
def taxed_part(draw: st.DrawFn, tag: str) -> tuple[dict[str, Any], bool]:
    """A Data part (or line item) tagged by its key/description; True when it carries tax."""
    tax = draw(maybe_tax)
    part: dict[str, Any] = {"Billed": str(draw(money)), "WorkType": tag, "Description": tag}
    if tax is not None:
        part.update({k: str(v) if isinstance(v, Decimal) else v for k, v in tax.items()})
        part["TaxAmount"] = str(draw(money))
    return part, tax is not None


@st.composite
def invoices(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], list[str]]:
    """(invoice JSON, tags of taxed line items, tags of taxed Data parts in order)."""
    lines, taxed_lines = [], []
    for i in range(draw(st.integers(0, 4))):
        part, taxed = draw(taxed_part(f"line{i}"))
        part.pop("TaxAmount", None)  # line items have no TaxAmount in the spec
        lines.append({"Description": part.pop("Description"), "Amount": part["Billed"], **part})
        if taxed:
            taxed_lines.append(f"line{i}")
    data, taxed_data = [], []
    for i in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["Work", "Service", "Expenses"]))
        entry: dict[str, Any] = {"EntityKey": f"E{i}", "Work": None, "Service": None}
        if kind == "Expenses":
            items = []
            for j in range(draw(st.integers(0, 3))):
                item, taxed = draw(taxed_part(f"data{i}.{j}"))
                items.append(item)
                if taxed:
                    taxed_data.append(f"data{i}.{j}")
            entry["Expenses"] = {"Billed": "1.00", "Expenses": items}
        else:
            part, taxed = draw(taxed_part(f"data{i}"))
            entry[kind] = part
            if taxed:
                taxed_data.append(f"data{i}")
        data.append(entry)
    invoice: dict[str, Any] = {"InvoiceKey": "I1", "LineItems": lines, "Data": data}
    location = draw(st.sampled_from(["Presentation", "Data", "data", None, "absent"]))
    if location != "absent":
        invoice["TaxLocation"] = location
    return invoice, taxed_lines, taxed_data


@given(invoices())
def test_tax_lines_come_from_the_side_tax_location_names(
    case: tuple[dict[str, Any], list[str], list[str]],
) -> None:
    document, taxed_lines, taxed_data = case
    invoice = ka.structure(document, m.Invoice)
    lines = ka.invoice_tax_lines(invoice)
    on_data = str(document.get("TaxLocation")).casefold() == "data"
    assert [line.description for line in lines] == (taxed_data if on_data else taxed_lines)
    expected_location = m.TaxLocation.DATA if on_data else m.TaxLocation.PRESENTATION
    for line in lines:
        assert line.location is expected_location
        assert line.tax_rate_name in ("GST", "VAT")
        assert line.tax_rate == line.source.tax_rate
        if on_data:
            assert line.tax_amount is not None
            assert line.taxed_amount == line.source.billed  # type: ignore[union-attr]
        else:
            assert line.tax_amount is None
            assert line.taxed_amount == line.source.amount  # type: ignore[union-attr]


def test_tax_location_decodes_tolerantly() -> None:
    assert (
        ka.structure({"InvoiceKey": "I1", "TaxLocation": "Data"}, m.Invoice).tax_location
        is m.TaxLocation.DATA
    )
    assert ka.structure({"InvoiceKey": "I1", "TaxLocation": None}, m.Invoice).tax_location is None
    odd = ka.structure({"InvoiceKey": "I1", "TaxLocation": "Elsewhere"}, m.Invoice).tax_location
    assert odd is not None
    assert not odd.is_known
    again = ka.unstructure(
        ka.structure({"InvoiceKey": "I1", "TaxLocation": "Elsewhere"}, m.Invoice)
    )
    assert again["TaxLocation"] == "Elsewhere"
    with pytest.raises(ValueError, match="unknown TaxLocation 'Elsewhere'"):
        ka.invoice_tax_lines(m.Invoice(invoice_key="I1", tax_location=odd, line_items=[], data=[]))


@pytest.mark.parametrize(
    ("location", "expand"),
    [(m.TaxLocation.PRESENTATION, "LineItems"), (m.TaxLocation.DATA, "Data")],
)
def test_a_side_not_expanded_says_which_expansion_is_needed(
    location: m.TaxLocation, expand: str
) -> None:
    other = {"line_items": []} if expand == "Data" else {"data": []}
    invoice = m.Invoice(invoice_key="I1", tax_location=location, **other)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=rf"expand=\['{expand}'\]"):
        ka.invoice_tax_lines(invoice)


async def test_fake_invoices_carry_tax_on_one_side_only() -> None:
    seen: set[tuple[m.TaxLocation, str | None]] = set()
    async with fake_client(size=24) as (_, client):
        summaries = await client.invoices.list().to_list()
        for summary in summaries:
            assert summary.invoice_key is not None
            invoice = await client.invoices.get(summary.invoice_key, expand=["LineItems", "Data"])
            assert invoice.tax_location is not None
            assert invoice.line_items is not None
            assert invoice.data is not None
            lines = ka.invoice_tax_lines(invoice)
            for entry in invoice.data:
                seen.add((invoice.tax_location, entry.entity_type))
                parts = [entry.work, entry.service]
                parts += entry.expenses.expenses or [] if entry.expenses else []
                for part in parts:
                    if part is not None and invoice.tax_location is m.TaxLocation.PRESENTATION:
                        assert (part.tax_rate, part.tax_rate_name, part.tax_amount) == (None,) * 3
            if invoice.tax_location is m.TaxLocation.DATA:
                assert all((i.tax_rate, i.tax_rate_name) == (None,) * 2 for i in invoice.line_items)
                total = sum((line.tax_amount or Decimal(0) for line in lines), Decimal(0))
            else:
                assert len(lines) in (0, len(invoice.line_items))
                total = sum(
                    (
                        line.taxed_amount * line.tax_rate / 100  # type: ignore[operator]
                        for line in lines
                    ),
                    Decimal(0),
                )
            assert abs(total - (invoice.invoice_tax_total or 0)) <= Decimal("0.05")
            assert (invoice.invoice_tax_total == 0) == (not lines)
    assert {
        (m.TaxLocation.PRESENTATION, "Work Item"),
        (m.TaxLocation.DATA, "Work Item"),
        (m.TaxLocation.DATA, "Expense"),
        (m.TaxLocation.DATA, "Service"),
    } <= seen
