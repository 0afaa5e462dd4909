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
    # Where the tax goes follows the index, not the RNG, so every other field stays as it was:
    # two in three are ad hoc with tax on the line items (Presentation); the rest carry it on the
    # Data entries, alternately ad hoc (work and an expense) and recurring (services).
    location = "Data" if ctx.index % 3 == 2 else "Presentation"
    recurring = ctx.index % 6 == 5
    lines: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for n in range(1 + rng.randrange(3)):
        work = ctx.ref("WorkItems")
        quantity = float(rng.randrange(1, 12))
        unit = float(rng.randrange(90, 320))
        amount = money(quantity * unit)
        line_key = guid(rng)
        lines.append(
            _invoice_line(line_key, work.key, "Entity", work.record["Title"], quantity, unit)
        )
        if recurring:
            service = {"WorkType": work.record["WorkType"], "Billed": amount}
            data.append(_data_entry(ctx.sub_key("Service", n), "Service", amount, service=service))
        else:
            part = {
                "FeeType": work.record["FeeSettings"]["FeeType"],
                "WorkType": work.record["WorkType"],
                "InvoiceType": "Final",
                "Billed": amount,
                "TimeEntries": None,
            }
            data.append(_data_entry(work.key, "Work Item", amount, work=part))
    if location == "Data" and not recurring:
        billed = money(lines[0]["Amount"] / 10)
        expense_key = ctx.sub_key("Expense")
        line_key = ctx.sub_key("ExpenseLine")
        lines.append(_invoice_line(line_key, expense_key, "Expense", "Disbursements", 1.0, billed))
        item = {"ExpenseKey": expense_key, "Description": "Disbursements", "Billed": billed}
        expenses = {"Billed": billed, "Expenses": [item]}
        data.append(_data_entry(expense_key, "Expense", billed, expenses=expenses))
    taxed = _apply_invoice_tax(location, lines, data, tax_name, tax_rate)
    subtotal = money(sum(line["Amount"] for line in lines))
    tax = money(subtotal * tax_rate / 100) if location == "Presentation" else taxed
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
        "TaxLocation": location,
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


def _invoice_line(
    line_key: str, key: str, kind: str, description: str, quantity: float, unit: float
) -> dict[str, Any]:
    return {
        "LineItemKey": line_key,
        "BillableItemEntityKey": key,
        "BillableItemType": kind,
        "Description": description,
        "Quantity": quantity,
        "UnitPrice": f"{unit:.2f}",
        "Amount": money(quantity * unit),
        "TaxRate": None,
        "TaxRateName": None,
    }


def _data_entry(
    key: str,
    kind: str,
    billed: float,
    *,
    work: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    expenses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``$expand=Data`` entry: exactly one of work, service, expenses is filled in."""
    return {
        "EntityKey": key,
        "EntityType": kind,
        "Billed": billed,
        "Expenses": expenses,
        "Service": service,
        "Work": work,
    }


def _apply_invoice_tax(
    location: str,
    lines: list[dict[str, Any]],
    data: list[dict[str, Any]],
    name: str,
    rate: int,
) -> float:
    """Fill in the tax fields on the side ``location`` names and null them on the other, as
    Karbon does; returns the tax the Data side adds up to."""
    presentation = location == "Presentation" and rate > 0
    for line in lines:
        line["TaxRate"] = float(rate) if presentation else None
        line["TaxRateName"] = name if presentation else None
    parts = [
        entry["Work"] or entry["Service"] for entry in data if entry["Work"] or entry["Service"]
    ]
    for entry in data:
        if entry["Expenses"]:
            parts += entry["Expenses"]["Expenses"]
    on_data = location == "Data" and rate > 0
    total = 0.0
    for part in parts:
        amount = money(part["Billed"] * rate / 100) if on_data else None
        part["TaxRate"] = float(rate) if on_data else None
        part["TaxRateName"] = name if on_data else None
        part["TaxAmount"] = amount
        total += amount or 0.0
    return money(total)


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
