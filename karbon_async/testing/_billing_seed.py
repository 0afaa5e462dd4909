"""Seed data for billing: invoices (with line items and payments), payments, expenses."""

from __future__ import annotations

from typing import Any

from ._clients_seed import first_item, primary_card
from ._keys import b64url
from ._store import (
    EPOCH_2022,
    SPAN,
    CollectionDef,
    GenContext,
    Record,
    gen_nothing,
    guid,
    midnight,
    money,
    pick,
    plain,
)

__all__ = ["COLLECTIONS"]


_INVOICE_STATUSES = (
    "Paid", "Paid", "Paid", "AwaitingPayment", "AwaitingPayment", "Exported", "Approved", "Voided",
)  # fmt: skip


_PAYMENT_METHODS = ("Bank Transfer", "Direct Debit", "Credit Card Online", "Check", "Cash")


_CURRENCY = {"AU": ("AUD", "GST", 10), "NZ": ("NZD", "GST", 15), "GB": ("GBP", "VAT", 20)}


_INVOICE_LIST_FIELDS = (
    "InvoiceKey", "InvoiceNumber", "TotalAmountDue", "InvoiceTotal", "InvoiceSubTotal",
    "InvoiceTaxTotal", "InvoiceDate", "PaymentDueDate", "UpdatedAt", "CreatedAt", "CurrencyCode",
    "PaymentInstructions", "InvoiceStatus", "TaxLocation", "Client", "TaxLineItems",
)  # fmt: skip


def _gen_invoice(ctx: GenContext) -> Record:
    rng = ctx.rng
    is_org = rng.random() < 0.5
    client = ctx.ref("Organizations" if is_org else "Contacts")
    card = primary_card(client.record) or {}
    address = first_item(card.get("Addresses")) or {}
    country = address.get("CountryCode", "AU")
    currency, tax_name, tax_rate = _CURRENCY.get(country, ("USD", "Sales Tax", 0))
    name = client.record.get("FullName") or (
        f"{client.record.get('FirstName')} {client.record.get('LastName')}"
    )
    lines: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for _ in range(1 + rng.randrange(3)):
        work = ctx.ref("WorkItems")
        quantity = float(rng.randrange(1, 12))
        unit = float(rng.randrange(90, 320))
        amount = money(quantity * unit)
        lines.append(
            {
                "LineItemKey": guid(rng),
                "BillableItemEntityKey": work.key,
                "BillableItemType": "Entity",
                "Description": work.record["Title"],
                "Quantity": quantity,
                "UnitPrice": f"{unit:.2f}",
                "Amount": amount,
                "TaxRate": float(tax_rate) if tax_rate else None,
                "TaxRateName": tax_name if tax_rate else None,
            }
        )
        data.append(
            {
                "EntityKey": work.key,
                "EntityType": "Work Item",
                "Billed": amount,
                "Expenses": None,
                "Service": None,
                "Work": {"Title": work.record["Title"], "WorkType": work.record["WorkType"]},
            }
        )
    subtotal = money(sum(line["Amount"] for line in lines))
    tax = money(subtotal * tax_rate / 100)
    total = money(subtotal + tax)
    status = pick(rng, _INVOICE_STATUSES)
    issued = EPOCH_2022 + rng.randrange(SPAN)
    paid = _invoice_paid(status, total)
    payments = [
        {
            "PaymentKey": ctx.account.store("Payments").key_of(ctx.index),
            "PaymentReference": f"KPY-{1001 + ctx.index}",
            "PaymentType": "ManualPaymentReversed" if status == "Voided" else "ManualPayment",
            "PaymentDate": midnight(issued + 7 * 86_400)[:10],
            "Amount": paid,
        }
    ]
    if status == "Voided":
        paid = 0.0
    key = ctx.key()
    token = b64url(f"invoice:{key}".encode())
    return {
        "InvoiceKey": key,
        "InvoiceNumber": f"KIN-{1001 + ctx.index}",
        "TotalAmountDue": money(total - paid) if status != "Voided" else 0.0,
        "InvoiceTotal": total,
        "InvoiceSubTotal": subtotal,
        "InvoiceTaxTotal": tax,
        "InvoiceDate": midnight(issued),
        "PaymentDueDate": midnight(issued + 14 * 86_400),
        "UpdatedAt": midnight(issued + 86_400)[:-1].replace("T00:00:00", "T09:30:00") + "Z",
        "CreatedAt": midnight(issued - 86_400),
        "CurrencyCode": currency,
        "PaymentInstructions": "Payment due 14 days from invoice date",
        "InvoiceStatus": status,
        "TaxLocation": "Presentation",
        "Client": {
            "ClientKey": client.key,
            "ClientType": "Organization" if is_org else "Contact",
            "Name": name,
            "AddressLine": address.get("AddressLines"),
            "City": address.get("City"),
            "StateProvinceCounty": address.get("StateProvinceCounty"),
            "ZipCode": address.get("ZipCode"),
            "Country": country,
            "EmailAddress": first_item(card.get("EmailAddresses")),
        },
        "TaxLineItems": [{"TaxName": tax_name, "TaxValue": tax}] if tax_rate else [],
        "InvoiceMagicLink": f"https://clientportal.karbonhq.com/invoice-link?token={token}",
        "InvoicePdfUrl": f"/v3/Files?token={token}",
        "LineItems": lines,
        "Payments": payments,
        "Data": data,
    }


def _invoice_summary(r: Record) -> Record:
    return {k: r.get(k) for k in _INVOICE_LIST_FIELDS}


def _invoice_paid(status: str, total: float) -> float:
    """What payment i (the only payment of invoice i) settled: all of it, or a deposit."""
    if status in ("Paid", "Exported", "Voided"):
        return total
    return money(total * 0.25)


def _gen_payment(ctx: GenContext) -> Record:
    """Payment i belongs to invoice i and copies what the invoice says about it."""
    rng = ctx.rng
    invoice = ctx.ref("Invoices", ctx.index)
    embedded = invoice.record["Payments"][0]
    method = pick(rng, _PAYMENT_METHODS)
    online = method == "Credit Card Online"
    amount = embedded["Amount"]
    return {
        "PaymentKey": ctx.key(),
        "InvoiceKey": invoice.key,
        "PaymentReference": embedded["PaymentReference"],
        "PaymentType": "Payment" if online else embedded["PaymentType"],
        "PaymentDate": embedded["PaymentDate"],
        "GrossAmount": amount,
        "PaymentMethod": method,
        "ClientKey": invoice.record["Client"]["ClientKey"],
        "KarbonPayment": {
            "CardType": "Visa" if online else "",
            "CardCountry": "AU" if online else None,
            "CardFunding": "credit" if online else "",
            "PayoutStatus": "Paid" if online else "",
            "SurchargeAmount": 0,
            "KarbonFeeAmount": money(amount * 0.017) if online else 0,
            "KarbonFeeTaxAmount": 0,
            "NetAmount": money(amount * 0.983) if online else 0,
        },
        "Client": None,
    }


COLLECTIONS: tuple[CollectionDef, ...] = (
    plain(
        "Invoices",
        "InvoiceKey",
        _gen_invoice,
        "Invoice with key {key} not found.",
        ("InvoiceDate", "InvoiceNumber", "CreatedAt", "UpdatedAt"),
        summary=_invoice_summary,
        expand=frozenset({"LineItems", "Payments", "Data"}),
        filter_fields=frozenset({"InvoiceStatus"}),
        size_of=lambda size: max(1, size // 2),
    ),
    plain(
        "Payments",
        "PaymentKey",
        _gen_payment,
        "Payment with key {key} not found.",
        ("PaymentDate",),
    ),
    plain(
        "Expenses",
        "ExpenseKey",
        gen_nothing,
        "No Expense found for provided key",
        (),
        listable=False,
        size_of=lambda size: 0,
    ),
)
