"""FakeKarbon's writes, newer endpoints, change events and the new fault kinds, over aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from karbon_async._limits import RateLimit
from karbon_async.testing import ChangeEvent, FakeKarbon, Fault


@pytest.fixture
async def fake() -> AsyncIterator[FakeKarbon]:
    async with FakeKarbon(
        rate_limit=RateLimit(10_000, 1.0), seed=3, size=120, allow_insecure_webhooks=True
    ) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    fake: FakeKarbon,
    method: str,
    path: str,
    body: Any = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    url = path if path.startswith("http") else fake.base_url + path
    async with session.request(
        method, url, json=body, headers=fake.accounts[0].headers, allow_redirects=False, **kwargs
    ) as resp:
        text = await resp.read()
        if resp.content_type.endswith("json") and text:
            return resp.status, await resp.json()
        return resp.status, text


def user_email(fake: FakeKarbon) -> str:
    return str(next(fake.collection(0, "Users").records())["EmailAddress"])


async def test_contact_create_put_patch_and_events(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    events: list[ChangeEvent] = []
    fake.add_change_listener(events.append)
    status, body = await call(session, fake, "POST", "/v3/Contacts", {"FirstName": "Ada"})
    assert status == 400
    # The spec documents 4005 "Required payload data is missing" for Contacts (4003: WorkItems).
    assert body["error"] == {"code": "4005", "message": "Required payload data is missing: contact"}
    new = {"FirstName": "Ada", "LastName": "Lovelace", "UserDefinedIdentifier": "ADA-1"}
    new["BusinessCards"] = [{"EmailAddresses": ["ada@example.com"], "IsPrimaryCard": True}]
    status, body = await call(session, fake, "POST", "/v3/Contacts", new)
    assert status == 201
    key = body["ContactKey"]
    card_key = body["BusinessCards"][0]["BusinessCardKey"]
    created_version = fake.collection(0, "Contacts").version(key)
    assert created_version is not None
    status, body = await call(session, fake, "POST", "/v3/Contacts", new)
    assert status == 500
    assert body["error"]["message"] == "User defined identifier already in use"
    status, _ = await call(
        session,
        fake,
        "PUT",
        f"/v3/Contacts/{key}",
        {"FirstName": "Ada", "LastName": "King", "UserDefinedIdentifier": "ADA-1"},
    )
    assert status == 204
    status, card = await call(session, fake, "GET", f"/v3/BusinessCards/{card_key}")
    assert status == 200
    assert card["EmailAddresses"] == ["ada@example.com"]
    status, body = await call(session, fake, "PATCH", f"/v3/Contacts/{key}", {"MiddleName": "B"})
    assert status == 200
    assert (body["LastName"], body["MiddleName"]) == ("King", "B")
    status, body = await call(session, fake, "PATCH", f"/v3/Contacts/{key}", {"ContactType": "X"})
    assert status == 400
    status, _ = await call(session, fake, "GET", "/v3/Contacts/GetContactByUserDefinedIdentifier"
                           "(UserDefinedIdentifier='ADA-1')")  # fmt: skip
    assert status == 200
    assert [(e.webhook_type, e.action) for e in events] == [
        ("Contact", "Inserted"),
        ("Contact", "Updated"),
        ("Contact", "Updated"),
    ]
    assert fake.collection(0, "Contacts").version(key) == created_version + 2


async def test_client_group_and_work_item_status_codes(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    status, body = await call(session, fake, "POST", "/v3/ClientGroups", {"FullName": "The Xs"})
    assert status == 200
    group = body["ClientGroupKey"]
    status, _ = await call(session, fake, "PATCH", f"/v3/ClientGroups/{group}", {"FullName": "Y"})
    assert status == 204
    status, body = await call(session, fake, "PATCH", f"/v3/ClientGroups/{group}", {"X": 1})
    assert body["error"]["message"] == "Invalid property to update. Only FullName can be patched."
    contact = next(fake.collection(0, "Contacts").keys())
    work = {
        "AssigneeEmailAddress": user_email(fake),
        "Title": "FY2026 Individual Tax Return",
        "ClientKey": contact,
        "ClientType": "Person",
        "StartDate": "2026-04-01T00:00:00Z",
    }
    status, body = await call(session, fake, "POST", "/v3/WorkItems", work)
    assert status == 400
    assert body["error"]["details"]["target"] == "workItem.ClientType"
    work["ClientType"] = "Contact"
    work["PrimaryStatus"] = "InProgress"
    status, body = await call(session, fake, "POST", "/v3/WorkItems", work)
    assert status == 201
    assert body["PrimaryStatus"] == "InProgress"
    key = body["WorkItemKey"]
    status, body = await call(session, fake, "PATCH", f"/v3/WorkItems/{key}", {"ClientKey": "x"})
    assert status == 400
    status, body = await call(
        session, fake, "PATCH", f"/v3/WorkItems/{key}", {"AssigneeEmailAddress": "no@x.example"}
    )
    assert (status, body["error"]["code"]) == (500, "5001")
    status, _ = await call(session, fake, "PATCH", f"/v3/WorkItems/{key}", {"Title": "T2"})
    assert status == 204


async def test_conflict_fault_and_overlapping_writes(session: aiohttp.ClientSession) -> None:
    async with FakeKarbon(rate_limit=None, latency=(0.15, 0.15), size=20) as fake:
        key = next(fake.collection(0, "Organizations").keys())
        fake.add_fault(Fault.conflict(), method="PATCH")
        status, body = await call(session, fake, "PATCH", f"/v3/Organizations/{key}", {})
        assert status == 409
        assert body["error"]["code"] == "4020"
        results = await asyncio.gather(
            call(session, fake, "PATCH", f"/v3/Organizations/{key}", {"FullName": "A"}),
            call(session, fake, "PATCH", f"/v3/Organizations/{key}", {"FullName": "B"}),
        )
        assert sorted(s for s, _ in results) == [200, 409]


async def test_fault_rate_and_truncate(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    fake.add_fault(Fault.status(503), count=None, rate=0.3, path="/v3/Roles")
    statuses = [(await call(session, fake, "GET", "/v3/Roles"))[0] for _ in range(40)]
    assert 3 <= statuses.count(503) <= 25
    assert set(statuses) == {200, 503}
    fake.clear_faults()
    fake.add_fault(Fault.truncate())
    with pytest.raises(aiohttp.ClientPayloadError):
        await call(session, fake, "GET", "/v3/Contacts")


async def test_reference_lists(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    status, body = await call(session, fake, "GET", "/v3/WorkTemplates?$top=11")
    assert status == 400
    status, body = await call(
        session, fake, "GET", "/v3/WorkTemplates?$filter=Title eq 'Monthly Bookkeeping'"
    )
    assert [t["Title"] for t in body["value"]] == ["Monthly Bookkeeping"]
    status, body = await call(session, fake, "GET", "/v3/IntegrationTaskDefinitions")
    assert status == 200
    assert "values" in body
    status, body = await call(session, fake, "GET", "/v3/TenantSettings")
    assert status == 200
    team = next(fake.collection(0, "Teams").keys())
    user = next(fake.collection(0, "Users").keys())
    for _ in range(2):
        status, _ = await call(
            session, fake, "POST", f"/v3/Teams/{team}/AddMembers", {"UserKeys": [user]}
        )
        assert status == 204
    members = fake.collection(0, "Teams").get(team)
    assert members is not None
    assert [m["Key"] for m in members["Members"]].count(user) == 1
    status, _ = await call(
        session, fake, "POST", f"/v3/Teams/{team}/RemoveMember", {"UserKey": user}
    )
    assert status == 204


async def test_timesheets_and_time_entries(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    sheet = fake.collection(0, "Timesheets").get(next(fake.collection(0, "Timesheets").keys()))
    assert sheet is not None
    wk = sheet["WorkItemKeys"][0]
    q = f"$filter=WorkItemKeys/any(x: x in ('{wk}','nope'))&$expand=TimeEntries"
    status, body = await call(session, fake, "GET", f"/v3/Timesheets?{q}")
    assert status == 200
    assert sheet["TimesheetKey"] in [s["TimesheetKey"] for s in body["value"]]
    assert all("TimeEntries" in s for s in body["value"])
    status, body = await call(session, fake, "GET", "/v3/IndividualTimeEntries?$top=1000")
    assert status == 200
    assert "@odata.count" not in body
    assert len(body["value"]) == fake.collection(0, "IndividualTimeEntries").count
    status, body = await call(session, fake, "GET", "/v3/IndividualTimeEntries?$count=true")
    assert body["@odata.count"] == fake.collection(0, "IndividualTimeEntries").count
    status, body = await call(session, fake, "GET", "/v3/IndividualTimeEntries/notaguid")
    assert (status, body["error"]["message"]) == (400, "Provided key must be a valid GUID.")
    entry = sheet["TimeEntries"][0]["TimeEntryKey"]
    status, body = await call(session, fake, "GET", f"/v3/IndividualTimeEntries/{entry}")
    assert status == 200


async def test_invoices_and_manual_payments(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    status, body = await call(
        session, fake, "GET", "/v3/Invoices?$filter=InvoiceStatus eq 'AwaitingPayment'"
    )
    assert status == 200
    invoice = body["value"][0]
    assert "LineItems" not in invoice
    key = invoice["InvoiceKey"]
    status, single = await call(session, fake, "GET", f"/v3/Invoices/{key}?$expand=LineItems")
    assert "LineItems" in single
    assert "Payments" not in single
    paid_on = invoice["InvoiceDate"][:10]  # the spec's PaymentDate is a date, not a date-time
    pay = {"InvoiceKey": key, "PaymentMethod": "Cash", "PaymentDate": paid_on}
    pay["TotalAmount"] = invoice["TotalAmountDue"] + 1
    status, body = await call(session, fake, "POST", "/v3/ManualPayments", pay)
    assert status == 400
    assert body["Error"]["Code"] == "4002"
    assert body["Error"]["Message"].startswith("An attempt was made to overpay")
    events: list[ChangeEvent] = []
    fake.add_change_listener(events.append)
    pay["TotalAmount"] = invoice["TotalAmountDue"]
    status, body = await call(session, fake, "POST", "/v3/ManualPayments", pay)
    assert status == 201
    payment = body["PaymentProcessingKey"]
    assert fake.collection(0, "Invoices").get(key)["InvoiceStatus"] == "Paid"  # type: ignore[index]
    assert [(e.webhook_type, e.action) for e in events] == [("Invoice", "Updated")]
    status, body = await call(session, fake, "POST", "/v3/ManualPayments", pay)
    assert status == 400
    status, _ = await call(session, fake, "DELETE", f"/v3/ManualPayments/{payment}")
    assert status == 204
    status, body = await call(session, fake, "DELETE", f"/v3/ManualPayments/{payment}")
    assert (status, body["error"]["message"]) == (404, f"Manual payment not found - {payment}")


async def test_custom_fields_and_values(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    status, body = await call(
        session, fake, "POST", "/v3/CustomFields", {"Name": "Fiscal Notes", "Type": "Text"}
    )
    assert status == 201
    field = body["Key"]
    contact = next(fake.collection(0, "Contacts").keys())
    bad = {"CustomFieldValues": [{"Key": field, "Value": ["a", "b"]}]}
    status, body = await call(session, fake, "PUT", f"/v3/CustomFieldValues/{contact}", bad)
    assert (status, body["error"]["message"]) == (400, "Only one value allowed for type Text")
    good = {"CustomFieldValues": [{"Key": field, "Value": ["a"]}]}
    status, _ = await call(session, fake, "PUT", f"/v3/CustomFieldValues/{contact}", good)
    assert status == 204
    status, body = await call(session, fake, "GET", f"/v3/CustomFieldValues/{contact}")
    assert [v["Value"] for v in body["CustomFieldValues"]] == [["a"]]
    status, _ = await call(session, fake, "DELETE", f"/v3/CustomFields/{field}")
    assert status == 204
    status, _ = await call(session, fake, "DELETE", f"/v3/CustomFields/{field}")
    assert status == 404


async def test_webhook_subscriptions(fake: FakeKarbon, session: aiohttp.ClientSession) -> None:
    sub = {"TargetUrl": "HTTPS://x.example/h", "WebhookType": "Contact"}
    status, body = await call(session, fake, "POST", "/v3/WebhookSubscriptions", sub)
    assert body["error"]["message"] == "Target URL must begin with https://"
    sub["TargetUrl"] = "http://127.0.0.1:9/hook"
    sub["SigningKey"] = "0123456789abcdef-key"
    status, body = await call(session, fake, "POST", "/v3/WebhookSubscriptions", sub)
    assert status == 201
    assert "SigningKey" not in body
    assert fake.webhook_subscriptions(0)["Contact"]["SigningKey"] == "0123456789abcdef-key"
    # A second POST for the type replaces its subscription, as live did (_live_behaviours
    # "webhook-second-post").
    replacement = {"TargetUrl": "http://127.0.0.1:9/other", "WebhookType": "Contact"}
    status, _ = await call(session, fake, "POST", "/v3/WebhookSubscriptions", replacement)
    assert status == 201
    assert fake.webhook_subscriptions(0)["Contact"] == {**replacement, "SigningKey": None}
    assert fake.cancel_webhook_subscription(0, "Contact")
    status, body = await call(session, fake, "GET", "/v3/WebhookSubscriptions/Contact")
    assert (status, body["error"]["message"]) == (
        404,
        "No existing webhook subscription for Contact",
    )
    status, _ = await call(session, fake, "DELETE", "/v3/WebhookSubscriptions")
    assert status == 204


async def test_files_upload_list_and_download(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    contact = next(fake.collection(0, "Contacts").keys())
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 hello", filename="return.pdf", content_type="application/pdf")
    status, body = await call(session, fake, "POST", "/v3/Files", data=form)
    assert status == 400
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4 hello", filename="return.pdf", content_type="application/pdf")
    form.add_field("contact_keys", contact)
    status, body = await call(session, fake, "POST", "/v3/Files", data=form)
    assert status == 201
    assert (body["Name"], body["Size"]) == ("return.pdf", "14")
    file_key = body["Id"]
    status, body = await call(session, fake, "GET", f"/v3/FileList/Contact?EntityKey={contact}")
    assert [a["FileContextKey"] for a in body["Attachments"]] == [file_key]
    status, data = await call(session, fake, "GET", body["Attachments"][0]["DownloadUrl"])
    assert (status, data) == (200, b"%PDF-1.4 hello")
    async with session.get(
        f"{fake.base_url}/v3/FileDetails/{file_key}/Download",
        headers=fake.accounts[0].headers,
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(fake.download_base_url)
    assert not location.startswith(fake.base_url)
    async with session.get(location) as resp:
        assert await resp.read() == b"%PDF-1.4 hello"


async def test_notes_comments_and_estimates(
    fake: FakeKarbon, session: aiohttp.ClientSession
) -> None:
    work = next(fake.collection(0, "WorkItems").keys())
    note = {"Subject": "Docs", "Body": "Need June statements", "AuthorEmailAddress": "x@y.z"}
    status, body = await call(session, fake, "POST", "/v3/Notes", note)
    assert (status, body["error"]["code"]) == (500, "5001")
    note["AuthorEmailAddress"] = user_email(fake)
    note["Timelines"] = [{"EntityType": "WorkItem", "EntityKey": work}]
    status, body = await call(session, fake, "POST", "/v3/Notes", note)
    assert status == 201
    key = body["Id"]
    status, body = await call(session, fake, "GET", f"/v3/Notes/{key}")
    assert body["Subject"] == "Docs"
    comment = fake.add_note_comment(0, key, "Received, thanks")
    status, body = await call(session, fake, "GET", f"/v3/Comments('{comment}')")
    assert (status, body["CommentBody"]) == (200, "Received, thanks")
    assert fake.events[-1].resource_type == "NoteComment"
    status, body = await call(session, fake, "GET", f"/v3/EstimateSummaries/{work}")
    assert status == 200
    assert body["value"]
    status, body = await call(session, fake, "POST", "/v3/Users", {"Name": "New Hire"})
    # The spec documents 400 4005 for a missing required field (older live evidence: 500 5001).
    assert (status, body["error"]["code"]) == (400, "4005")
    status, body = await call(
        session, fake, "POST", "/v3/Users", {"Name": "New Hire", "EmailAddress": "nh@x.example"}
    )
    assert status == 200
