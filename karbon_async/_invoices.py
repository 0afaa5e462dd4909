"""An invoice's tax lines, read from whichever side ``TaxLocation`` names.

Karbon fills in an invoice's tax fields on one side only: on the line items when ``TaxLocation``
is ``Presentation`` (ad hoc invoices made before the change), on the ``Data`` entries when it is
``Data`` (recurring invoices, and ad hoc ones after the change); the other side has them null.
``invoice_tax_lines`` reads the side that is filled in, so callers need not care which it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import attrs

from ._generated import models as m

DataTaxSource = (
    m.BillingInvoiceDataWork | m.BillingInvoiceDataService | m.BillingInvoiceDataExpenseItem
)
TaxSource = m.BillingInvoiceLineItem | DataTaxSource


@attrs.frozen(kw_only=True)
class TaxLine:
    """One taxed part of an invoice, whichever side it came from."""

    location: m.TaxLocation
    tax_rate_name: str | None
    """The tax's name as the firm set it up (GST, VAT, ...)."""
    tax_rate: Decimal | None
    """The percentage: 15 for 15%."""
    tax_amount: Decimal | None
    """The tax itself; Data entries give it, line items do not (None)."""
    taxed_amount: Decimal | None
    """What the tax applies to: a line item's ``Amount`` or a Data entry's ``Billed``."""
    description: str | None
    """A line item's description, an expense's description, or the work type of work/service."""
    entity_key: str | None
    """The billed record: a line item's ``BillableItemEntityKey``, a Data entry's ``EntityKey``."""
    source: TaxSource = attrs.field(repr=False)
    """The model the line was read from."""


def invoice_tax_lines(invoice: m.Invoice) -> list[TaxLine]:
    """The invoice's taxed lines from the side its ``tax_location`` names (no I/O).

    An invoice without ``TaxLocation`` (sent before Karbon added it) carries its tax on the line
    items. Fetch the invoice with ``expand=["LineItems"]`` or ``expand=["Data"]`` (both is
    simplest); a missing side raises ``ValueError`` saying which expansion is needed, as does a
    ``TaxLocation`` this version does not know. Lines without any tax field are left out.
    """
    location = invoice.tax_location or m.TaxLocation.PRESENTATION
    if location == m.TaxLocation.PRESENTATION:
        if invoice.line_items is None:
            raise ValueError(_not_expanded(invoice, location, "LineItems"))
        lines = list(_from_line_items(invoice.line_items))
    elif location == m.TaxLocation.DATA:
        if invoice.data is None:
            raise ValueError(_not_expanded(invoice, location, "Data"))
        lines = list(_from_data(invoice.data))
    else:
        raise ValueError(
            f"invoice {invoice.invoice_key}: unknown TaxLocation {str(location)!r}; "
            "read invoice.line_items or invoice.data directly"
        )
    return [line for line in lines if _has_tax(line)]


def _not_expanded(invoice: m.Invoice, location: m.TaxLocation, expand: str) -> str:
    return (
        f"invoice {invoice.invoice_key} has TaxLocation {location.value!r}, so its tax is on "
        f"{expand}: get it with expand=[{expand!r}]"
    )


def _has_tax(line: TaxLine) -> bool:
    return any(v is not None for v in (line.tax_rate_name, line.tax_rate, line.tax_amount))


def _from_line_items(items: list[m.BillingInvoiceLineItem]) -> Iterator[TaxLine]:
    for item in items:
        yield TaxLine(
            location=m.TaxLocation.PRESENTATION,
            tax_rate_name=item.tax_rate_name,
            tax_rate=item.tax_rate,
            tax_amount=None,
            taxed_amount=item.amount,
            description=item.description,
            entity_key=item.billable_item_entity_key,
            source=item,
        )


def _from_data(entries: list[m.BillingInvoiceDataItem]) -> Iterator[TaxLine]:
    for entry in entries:
        parts: list[tuple[DataTaxSource, str | None]] = []
        if entry.work is not None:
            parts.append((entry.work, entry.work.work_type))
        if entry.service is not None:
            parts.append((entry.service, entry.service.work_type))
        if entry.expenses is not None:
            parts += [(e, e.description) for e in entry.expenses.expenses or []]
        for part, description in parts:
            yield TaxLine(
                location=m.TaxLocation.DATA,
                tax_rate_name=part.tax_rate_name,
                tax_rate=part.tax_rate,
                tax_amount=part.tax_amount,
                taxed_amount=part.billed,
                description=description,
                entity_key=entry.entity_key,
                source=part,
            )
