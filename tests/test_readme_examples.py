"""README code blocks marked ``<!-- readme-test: NAME -->`` run here against FakeKarbon."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _fake_helpers import fake_client

from karbon_async import models as m

README = Path(__file__).resolve().parent.parent / "README.md"
MARKED = re.compile(r"<!-- readme-test: (\w+) -->\n```python\n(.*?)```", re.S)


def readme_blocks() -> dict[str, str]:
    return dict(MARKED.findall(README.read_text(encoding="utf-8")))


def run_block(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(readme_blocks()[name], f"README.md:{name}", "exec"), namespace)
    return namespace


def test_every_marked_block_has_a_test() -> None:
    assert set(readme_blocks()) == {"invoices"}


async def test_invoices_block(capsys: pytest.CaptureFixture[str]) -> None:
    flow = run_block("invoices")["invoice_flow"]
    async with fake_client(size=100) as (fake, client):
        invoices = fake.accounts[0].collection("Invoices")
        before = {
            invoices.key_of(i): invoices.get(invoices.key_of(i)) for i in range(invoices.count)
        }
        await flow(client)
        after = {key: invoices.get(key) for key in before}
    out = capsys.readouterr().out
    changed = [key for key in before if before[key] != after[key]]
    assert len(changed) == 1, "one invoice was paid and the payment reversed"
    old, new = before[changed[0]], after[changed[0]]
    assert old is not None
    assert new is not None
    assert new["TotalAmountDue"] == old["TotalAmountDue"]
    assert new["InvoiceStatus"] == "AwaitingPayment"
    reversed_payment = new["Payments"][-1]
    assert reversed_payment["PaymentType"] == "ManualPaymentReversed"
    assert Decimal(str(reversed_payment["Amount"])) == min(
        Decimal(str(old["TotalAmountDue"])), Decimal("100.00")
    )
    assert f"{new['InvoiceNumber']} tax on {m.TaxLocation(new['TaxLocation'])}" in out
    approved = sorted(
        (r for r in before.values() if r is not None and r["InvoiceStatus"] == "Approved"),
        key=lambda r: r["InvoiceDate"],
        reverse=True,
    )[:5]
    assert approved
    printed = [line.split()[0] for line in out.splitlines()[: len(approved)]]
    assert printed == [r["InvoiceNumber"] for r in approved]
