"""Billing endpoints: manual payments against invoices, expenses and invoice PDFs (seed data:
``_billing_seed``)."""

from __future__ import annotations

import copy

from aiohttp import web

from ._common import (
    Call,
    Reply,
    error,
    json_response,
    location,
    no_content,
    require,
    stamp,
)
from ._people import timeline_entity
from ._store import CollectionStore, Record, money

__all__ = ["invoice_pdf"]


def _invoice_for_update(call: Call, key: str) -> tuple[CollectionStore, Record]:
    invoices = call.store("Invoices")
    return invoices, copy.deepcopy(invoices.record_at(require(invoices, key)))


def _set_invoice(call: Call, invoices: CollectionStore, rec: Record, old_status: str) -> None:
    rec["UpdatedAt"] = stamp()[:19] + "Z"
    invoices.put(rec["InvoiceKey"], rec)
    if rec["InvoiceStatus"] != old_status:
        call.emit("Invoice", "Invoice", "Updated", rec["InvoiceKey"])


async def create_manual_payment(call: Call) -> web.StreamResponse:
    body = call.body("manualPayment")
    for name in ("InvoiceKey", "PaymentMethod", "PaymentDate", "TotalAmount"):
        if body.get(name) is None:
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    amount = body["TotalAmount"]
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount < 0.01:
        raise Reply(400, error("4002", "TotalAmount must be at least 0.01"))
    reference = body.get("Reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 250):
        raise Reply(400, error("4002", "Reference must be at most 250 characters"))
    invoices, invoice = _invoice_for_update(call, str(body["InvoiceKey"]))
    if invoice["InvoiceStatus"] != "AwaitingPayment":
        raise Reply(
            400,
            error(
                "4002",
                f"Payments can only be recorded against invoices that are AwaitingPayment; "
                f"invoice {invoice['InvoiceKey']} is {invoice['InvoiceStatus']}.",
            ),
        )
    date = str(body["PaymentDate"])
    if date[:10] < invoice["InvoiceDate"][:10] or date[:10] > stamp()[:10]:
        raise Reply(
            400,
            error("4002", "PaymentDate must be on or after the invoice date and not in the future"),
        )
    if money(float(amount)) > invoice["TotalAmountDue"]:
        raise Reply(
            400,
            {
                "Error": {
                    "Code": "4002",
                    "Message": "An attempt was made to overpay Invoice with "
                    f"[tenantPermaKey={call.account.data.tenant_key}] and "
                    f"[invoicePermaKey={invoice['InvoiceKey']}].",
                }
            },
        )
    payments = call.store("Payments")
    payment = {
        "InvoiceKey": invoice["InvoiceKey"],
        "PaymentReference": reference or f"KPY-M{payments.count + 1001}",
        "PaymentType": "ManualPayment",
        "PaymentDate": date[:10],
        "GrossAmount": money(float(amount)),
        "PaymentMethod": body["PaymentMethod"],
        "ClientKey": (invoice.get("Client") or {}).get("ClientKey"),
        "KarbonPayment": None,
        "Client": None,
    }
    payment_key = payments.create(payment)
    invoice["TotalAmountDue"] = money(invoice["TotalAmountDue"] - payment["GrossAmount"])
    invoice["Payments"].append(
        {
            "PaymentKey": payment_key,
            "PaymentReference": payment["PaymentReference"],
            "PaymentType": "ManualPayment",
            "PaymentDate": payment["PaymentDate"],
            "Amount": payment["GrossAmount"],
        }
    )
    if invoice["TotalAmountDue"] <= 0:
        invoice["InvoiceStatus"] = "Paid"
    _set_invoice(call, invoices, invoice, "AwaitingPayment")
    out = {
        "@odata.context": call.context("ManualPayments/$entity"),
        "InvoiceKey": invoice["InvoiceKey"],
        "PaymentMethod": body["PaymentMethod"],
        "PaymentDate": body["PaymentDate"],
        "TotalAmount": payment["GrossAmount"],
        "Reference": reference,
        "PaymentProcessingKey": payment_key,
    }
    return json_response(201, out, headers=location(call, "ManualPayments", payment_key))


def _manual_payment(call: Call, key: str) -> tuple[CollectionStore, Record]:
    payments = call.store("Payments")
    index = payments.index_of(key)
    if index is None or payments.record_at(index).get("PaymentType") != "ManualPayment":
        raise Reply(404, error("4004", f"Manual payment not found - {key}"))
    return payments, copy.deepcopy(payments.record_at(index))


def _unapply(call: Call, payment: Record, *, reverse: bool) -> None:
    invoices, invoice = _invoice_for_update(call, payment["InvoiceKey"])
    old = invoice["InvoiceStatus"]
    invoice["TotalAmountDue"] = money(
        min(invoice["InvoiceTotal"], invoice["TotalAmountDue"] + payment["GrossAmount"])
    )
    key = payment["PaymentKey"]
    if reverse:
        for embedded in invoice["Payments"]:
            if embedded["PaymentKey"] == key:
                embedded["PaymentType"] = "ManualPaymentReversed"
    else:
        invoice["Payments"] = [p for p in invoice["Payments"] if p["PaymentKey"] != key]
    if old == "Paid" and invoice["TotalAmountDue"] > 0:
        invoice["InvoiceStatus"] = "AwaitingPayment"
    _set_invoice(call, invoices, invoice, old)


async def delete_manual_payment(call: Call) -> web.StreamResponse:
    payments, payment = _manual_payment(call, call.params["key"])
    payments.delete(payment["PaymentKey"])
    _unapply(call, payment, reverse=False)
    return no_content()


async def reverse_manual_payment(call: Call) -> web.StreamResponse:
    body = call.body("reverseManualPayment")
    for name in ("PaymentKey", "ReversalDate"):
        if not body.get(name):
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    payments, payment = _manual_payment(call, str(body["PaymentKey"]))
    payment["PaymentType"] = "ManualPaymentReversed"
    payments.put(payment["PaymentKey"], payment)
    _unapply(call, payment, reverse=True)
    return no_content()


async def create_expense(call: Call) -> web.StreamResponse:
    body = call.body("expense")
    for name in ("Timeline", "ExpenseDate", "Value", "BillableValue", "Description"):
        if body.get(name) is None:
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    timeline_entity(call, body["Timeline"])
    for name in ("Value", "BillableValue"):
        if not isinstance(body[name], (int, float)) or isinstance(body[name], bool):
            raise Reply(400, error("4002", f"{name} must be a number"))
    store = call.store("Expenses")
    rec = {
        name: body[name]
        for name in ("Timeline", "ExpenseDate", "Value", "BillableValue", "Description")
    }
    key = store.create(rec)
    out = {"@odata.context": call.context("Expenses/$entity"), "ExpenseKey": key, **rec}
    return json_response(201, out, headers=location(call, "Expenses", key))


def invoice_pdf(call: Call, token: str) -> web.Response | None:
    """Invoices' InvoicePdfUrl tokens name their invoice; serve a tiny placeholder PDF."""
    import base64

    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        return None
    kind, _, key = decoded.partition(":")
    invoices = call.store("Invoices")
    if kind != "invoice" or invoices.index_of(key) is None:
        return None
    number = invoices.record_at(require(invoices, key))["InvoiceNumber"]
    pdf = b"%PDF-1.4\n% " + number.encode() + b"\n%%EOF\n"
    return web.Response(
        status=200,
        body=pdf,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
        },
    )
