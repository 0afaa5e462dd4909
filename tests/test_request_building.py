"""How the endpoint descriptors build requests, checked with a recording transport (no server):
key escaping, bodies (None dropped for POST/PUT, UNSET left out and None kept for PATCH), page
sizes, $expand rules, limits checked before sending, multipart uploads, downloads, modify()."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.parser
import email.policy
import json
import unicodedata
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import models as m
from karbon_async._generated import OPERATIONS
from karbon_async._query import render_filter
from karbon_async._resources import RESOURCES, operation_table
from karbon_async._transport import BeforeResend, Request, Response, StreamedResponse

BASE = "http://127.0.0.1:9"
Handler = Callable[[Request], Response]


def ok(request: Request, body: object = None, status: int = 200) -> Response:
    payload = b"" if body is None else json.dumps(body).encode()
    return Response(status=status, headers={}, body=payload, url=request.url)


class RecordingTransport:
    """Records every request; answers with ``handler`` (default: 200 ``{}``)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.sent: list[Request] = []
        self.streamed: list[Request] = []
        self.handler = handler or (lambda request: ok(request, {}))
        self.stream_body = b"chunk-one|chunk-two"

    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        self.sent.append(request)
        return self.handler(request)

    @contextlib.asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[StreamedResponse]:
        self.streamed.append(request)
        data = self.stream_body

        async def chunks() -> AsyncIterator[bytes]:
            for part in data.split(b"|"):
                yield part

        yield StreamedResponse(status=200, headers={}, url=request.url, chunks=chunks())

    async def aclose(self) -> None:
        pass


def client_with(transport: RecordingTransport) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token="token",
        access_key="key",
        base_url=BASE,
        transport=transport,
        retry=ka.RetryPolicy(max_attempts=1),
    )


def sent_json(request: Request) -> object:
    assert request.body is not None
    return json.loads(request.body)


# --- coverage -------------------------------------------------------------------------------


def test_every_operation_is_declared_exactly_once() -> None:
    declared = [entry.operation_id for _, entry in operation_table()]
    assert sorted(declared) == sorted(OPERATIONS)
    assert len(declared) == len(set(declared)) == 74


def test_every_issue_resource_is_a_client_attribute() -> None:
    client = client_with(RecordingTransport())
    for attribute, resource_class in RESOURCES.items():
        assert isinstance(getattr(client, attribute), resource_class)


def test_every_descriptor_is_its_operation_table_row() -> None:
    """Descriptors hold the generated row itself: method, path and models are stated once."""
    from karbon_async._endpoint import Endpoint

    seen = 0
    for resource_class in RESOURCES.values():
        for value in vars(resource_class).values():
            if isinstance(value, Endpoint):
                assert value.spec is OPERATIONS[value.operation_id]
                seen += 1
    assert seen >= 60


@pytest.mark.parametrize(
    ("attribute", "limit"),
    [
        ("contacts", 100),
        ("teams", 200),
        ("roles", 200),
        ("time_entries", 1000),
        ("work_templates", 10),
    ],
)
def test_page_size_above_the_limit_is_refused(attribute: str, limit: int) -> None:
    transport = RecordingTransport()
    resource = getattr(client_with(transport), attribute)
    resource.list(page_size=limit)
    with pytest.raises(ValueError, match="exceeds the limit"):
        resource.list(page_size=limit + 1)
    assert transport.sent == []


# --- keys -----------------------------------------------------------------------------------

FORBIDDEN = set("/?#\\") | {chr(c) for c in range(0x20)} | {"\x7f"}


@settings(max_examples=200, deadline=None)
@given(key=st.text(min_size=0, max_size=20))
async def test_udi_keys_are_quoted_or_refused(key: str) -> None:
    transport = RecordingTransport(lambda request: ok(request, {"ContactKey": "k"}))
    client = client_with(transport)
    refused = (
        not key.strip()
        or key != key.strip()
        or key in (".", "..")
        or set(key) & FORBIDDEN
        # control, format, surrogate, private-use and unassigned characters; line separators
        or any(unicodedata.category(c).startswith("C") or c in "\u2028\u2029" for c in key)
    )
    if refused:
        with pytest.raises(ValueError):
            await client.contacts.get_by_user_defined_identifier(key)
        assert transport.sent == []
        return
    await client.contacts.get_by_user_defined_identifier(key)
    (request,) = transport.sent
    raw_path = urlsplit(request.url).path
    assert "?" not in raw_path
    assert "#" not in raw_path
    prefix = "/v3/Contacts/GetContactByUserDefinedIdentifier(UserDefinedIdentifier="
    assert raw_path.startswith(prefix)
    assert raw_path.endswith(")")
    literal = unquote(raw_path[len(prefix) : -1])
    assert literal == "'" + key.replace("'", "''") + "'"
    assert raw_path.count("/") == 3  # nothing the key holds can add a segment


@pytest.mark.parametrize("key", ["a/b", "a?b", "a#b", "a\\b", "a\nb", "..", "", " "])
async def test_bad_keys_never_reach_the_wire(key: str) -> None:
    transport = RecordingTransport()
    client = client_with(transport)
    with pytest.raises(ValueError):
        await client.comments.get(key)
    with pytest.raises(ValueError):
        await client.work_items.get(key)
    with pytest.raises(ValueError):
        await client.manual_payments.delete(key)
    with pytest.raises(ValueError):
        await client.teams.add_members(key, m.AddTeamMembersRequest(user_keys=["u"]))
    assert transport.sent == []


async def test_default_page_size_is_capped_by_the_endpoint_limit() -> None:
    transport = RecordingTransport(lambda request: ok(request, {"value": []}))
    client = client_with(transport)
    assert [t async for t in client.work_templates.list()] == []
    assert [d async for d in client.integration_task_definitions.list()] == []
    with pytest.raises(ValueError, match="not paged"):
        client.integration_task_definitions.list(page_size=5)
    assert "%24top=10" in transport.sent[0].url or "$top=10" in transport.sent[0].url
    assert "top" not in transport.sent[1].url


async def test_comment_key_is_an_odata_literal() -> None:
    transport = RecordingTransport(lambda request: ok(request, {"CommentKey": "x"}))
    await client_with(transport).comments.get("O'Brien")
    assert urlsplit(transport.sent[0].url).path == "/v3/Comments('O''Brien')"


# --- bodies ---------------------------------------------------------------------------------


async def test_patch_sends_only_set_fields_and_keeps_none() -> None:
    transport = RecordingTransport(
        lambda request: ok(request, {"WorkItemKey": "W1", "Title": "New", "DueDate": None})
    )
    client = client_with(transport)
    patched = await client.work_items.patch(
        "W1", m.PatchWorkItemRequest(title="New", due_date=None)
    )
    (request,) = transport.sent
    assert request.method == "PATCH"
    assert sent_json(request) == {"Title": "New", "DueDate": None}
    assert isinstance(patched, m.WorkItem)
    assert patched.title == "New"


# Every record model requires its own key; one stub body serves all four.
RECORD_STUB = {
    "ContactKey": "K1",
    "OrganizationKey": "K1",
    "ClientGroupKey": "K1",
    "WorkItemKey": "K1",
    "FullName": "Lees",
}

PREFERRING_PATCHES = [
    ("contacts", m.PatchContactRequest(first_name="Ann"), m.PatchedContact),
    ("organizations", m.PatchOrganizationRequest(full_name="Acme"), m.PatchedOrganization),
    ("client_groups", m.PatchClientGroupRequest(full_name="Lees"), m.ClientGroup),
    ("work_items", m.PatchWorkItemRequest(title="New"), m.WorkItem),
]


@pytest.mark.parametrize(("attribute", "body", "model"), PREFERRING_PATCHES)
async def test_patch_asks_for_the_record_and_returns_it(
    attribute: str, body: object, model: type
) -> None:
    transport = RecordingTransport(lambda request: ok(request, RECORD_STUB))
    patched = await getattr(client_with(transport), attribute).patch("K1", body)
    (request,) = transport.sent
    assert request.headers["Prefer"] == "return=representation"
    assert isinstance(patched, model)


@pytest.mark.parametrize(("attribute", "body", "model"), PREFERRING_PATCHES)
async def test_patch_answered_204_reads_the_record_back(
    attribute: str, body: object, model: type
) -> None:
    def handler(request: Request) -> Response:
        if request.method == "PATCH":
            return ok(request, status=204)
        return ok(request, RECORD_STUB)

    transport = RecordingTransport(handler)
    patched = await getattr(client_with(transport), attribute).patch("K1", body)
    assert [r.method for r in transport.sent] == ["PATCH", "GET"]
    assert transport.sent[1].url == transport.sent[0].url
    assert isinstance(patched, model)


async def test_patch_without_representation_returns_none() -> None:
    transport = RecordingTransport(lambda request: ok(request, status=204))
    schedules = client_with(transport).work_schedules
    assert await schedules.patch("S1", m.PatchWorkScheduleRequest(schedule_end_date=None)) is None
    assert "Prefer" not in transport.sent[0].headers


async def test_patch_contact_answers_with_the_record() -> None:
    transport = RecordingTransport(
        lambda request: ok(request, {"ContactKey": "C1", "FirstName": "Ann"})
    )
    patched = await client_with(transport).contacts.patch(
        "C1", m.PatchContactRequest(first_name="Ann")
    )
    assert isinstance(patched, m.PatchedContact)
    assert patched.first_name == "Ann"
    assert sent_json(transport.sent[0]) == {"FirstName": "Ann"}


async def test_patch_organization_asks_for_the_representation() -> None:
    transport = RecordingTransport(
        lambda request: ok(request, {"OrganizationKey": "O1", "FullName": "Acme"})
    )
    await client_with(transport).organizations.patch(
        "O1", m.PatchOrganizationRequest(full_name="Acme")
    )
    assert transport.sent[0].headers["Prefer"] == "return=representation"


async def test_post_and_put_leave_out_none() -> None:
    transport = RecordingTransport(lambda request: ok(request, {"ContactKey": "C1"}, 201))
    client = client_with(transport)
    body = m.CreateContactRequest(first_name="Ann", last_name="Lee")
    created = await client.contacts.create(body)
    assert isinstance(created, m.Contact)
    transport.handler = lambda request: ok(request, status=204)
    assert await client.contacts.update("C1", body) is None
    for request in transport.sent:
        document = sent_json(request)
        assert isinstance(document, dict)
        assert None not in document.values()
        assert document["FirstName"] == "Ann"
        assert "BusinessCards" not in document
    assert [r.method for r in transport.sent] == ["POST", "PUT"]


async def test_a_body_of_the_wrong_model_is_refused() -> None:
    transport = RecordingTransport()
    client = client_with(transport)
    with pytest.raises(TypeError, match="CreateContactRequest"):
        await client.contacts.create(m.CreateOrganizationRequest(full_name="x"))  # type: ignore[arg-type]
    assert transport.sent == []


def test_documented_limits_are_checked_before_sending() -> None:
    with pytest.raises(ValueError, match="https://"):
        m.CreateWebhookSubscriptionRequest(
            target_url="http://example.com/hook", webhook_type=m.WebhookType.WORK
        )
    with pytest.raises(ValueError):
        m.CreateWebhookSubscriptionRequest(
            target_url="https://example.com/hook",
            webhook_type=m.WebhookType.WORK,
            signing_key="short",
        )
    with pytest.raises(ValueError):
        m.CreateWebhookSubscriptionRequest(
            target_url="https://example.com/hook",
            webhook_type=m.WebhookType.WORK,
            signing_key="has spaces in it, sixteen+",
        )
    with pytest.raises(ValueError):
        m.CreateManualPaymentRequest(
            invoice_key="I1",
            payment_method=m.PaymentMethod("Cash"),
            payment_date=dt.date(2025, 1, 1),
            total_amount=Decimal("0"),
        )


async def test_actions_and_deletes() -> None:
    transport = RecordingTransport(lambda request: ok(request, status=204))
    client = client_with(transport)
    await client.teams.add_members("T1", m.AddTeamMembersRequest(user_keys=["U1", "U2"]))
    await client.teams.remove_member("T1", m.RemoveTeamMemberRequest(user_key="U1"))
    await client.manual_payments.reverse(
        m.ReverseManualPaymentRequest(
            payment_key="P1", reversal_date=dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc)
        )
    )
    await client.webhook_subscriptions.delete(m.WebhookType.CONTACT)
    await client.webhook_subscriptions.delete_all()
    await client.custom_fields.delete("CF1")
    assert [(r.method, urlsplit(r.url).path) for r in transport.sent] == [
        ("POST", "/v3/Teams/T1/AddMembers"),
        ("POST", "/v3/Teams/T1/RemoveMember"),
        ("POST", "/v3/ReverseManualPayment"),
        ("DELETE", "/v3/WebhookSubscriptions/Contact"),
        ("DELETE", "/v3/WebhookSubscriptions"),
        ("DELETE", "/v3/CustomFields/CF1"),
    ]
    assert sent_json(transport.sent[0]) == {"UserKeys": ["U1", "U2"]}


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        ({}, []),  # the spec does not require the list: no list is no summaries
        ({"value": []}, []),
        ({"value": [{"EstimateSummaryKey": "E1"}]}, ["E1"]),
        ({"values": [{"EstimateSummaryKey": "E2"}]}, ["E2"]),
    ],
)
async def test_keyed_list_reads_its_body_like_a_page(body: object, keys: list[str]) -> None:
    client = client_with(RecordingTransport(lambda request: ok(request, body)))
    summaries = await client.estimate_summaries.list("W1")
    assert [s.estimate_summary_key for s in summaries] == keys


async def test_keyed_list_refuses_a_body_that_is_not_a_collection() -> None:
    client = client_with(RecordingTransport(lambda request: ok(request, [1])))
    with pytest.raises(ValueError, match="OData collection"):
        await client.estimate_summaries.list("W1")


# --- invoices -------------------------------------------------------------------------------


async def test_invoice_expand_on_single_invoices_only() -> None:
    transport = RecordingTransport(
        lambda request: ok(request, {"InvoiceKey": "I1", "TotalAmount": 10.1})
    )
    client = client_with(transport)
    invoice = await client.invoices.get("I1", expand=["LineItems", "Payments", "Data"])
    assert "%24expand=LineItems,Payments,Data" in transport.sent[0].url or (
        "$expand=LineItems,Payments,Data" in transport.sent[0].url
    )
    assert isinstance(invoice, m.Invoice)
    with pytest.raises(ValueError, match="expand"):
        await client.invoices.get("I1", expand="Contacts")
    with pytest.raises(ValueError, match="expand"):
        client.invoices.list(expand="LineItems")
    assert len(transport.sent) == 1


# --- modify ---------------------------------------------------------------------------------


async def test_modify_refetches_and_reapplies_on_conflict() -> None:
    versions = iter(["one", "two", "three"])
    conflict = json.dumps(
        {"error": {"code": "4020", "message": "The resource was modified by another request."}}
    ).encode()
    puts: list[object] = []

    def handler(request: Request) -> Response:
        if request.method == "GET":
            return ok(
                request,
                {
                    "ContactKey": "C1",
                    "FirstName": next(versions),
                    "LastName": "Lee",
                    "LastModifiedDateTime": "2025-01-01T00:00:00Z",
                    "SomethingNew": 1,
                },
            )
        puts.append(sent_json(request))
        if len(puts) == 1:
            return Response(status=409, headers={}, body=conflict, url=request.url)
        return ok(request, status=204)

    transport = RecordingTransport(handler)
    result = await client_with(transport).contacts.modify(
        "C1", lambda c: attrs.evolve(c, middle_name=f"after {c.first_name}")
    )
    # the record as the server has it after the PUT, fetched again
    assert isinstance(result, m.Contact)
    assert result.first_name == "three"
    assert [r.method for r in transport.sent] == ["GET", "PUT", "GET", "PUT", "GET"]
    assert puts[-1] == {
        "FirstName": "two",
        "LastName": "Lee",
        "MiddleName": "after two",
        "SomethingNew": 1,  # unknown to the SDK: written back, not cleared
    }


async def test_modify_gives_up_after_the_bound() -> None:
    conflict = b'{"error":{"code":"4020","message":"modified"}}'

    def handler(request: Request) -> Response:
        if request.method == "GET":
            return ok(request, {"ContactKey": "C1", "FirstName": "A", "LastName": "B"})
        return Response(status=409, headers={}, body=conflict, url=request.url)

    transport = RecordingTransport(handler)
    with pytest.raises(ka.ConflictError):
        await client_with(transport).contacts.modify("C1", lambda c: c, attempts=2)
    assert [r.method for r in transport.sent] == ["GET", "PUT", "GET", "PUT"]


# --- tenant settings ------------------------------------------------------------------------


async def test_tenant_settings_are_cached_per_client() -> None:
    transport = RecordingTransport(
        lambda request: ok(request, {"TenantKey": "T", "WorkTypes": [{"Name": "Tax"}]})
    )
    client = client_with(transport)
    first = await client.tenant_settings.get()
    again = await client.with_options(lane=ka.Lane.BULK).tenant_settings.get()
    assert first is again
    assert len(transport.sent) == 1
    assert client.tenant_settings.cached() is first
    await client.tenant_settings.refresh()
    assert len(transport.sent) == 2
    assert first.work_types is not None
    assert first.work_types[0].name == "Tax"


# --- files ----------------------------------------------------------------------------------


def parse_multipart(request: Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert request.body is not None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
    )
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        parts[name] = (part.get_filename(), part.get_content_type(), payload)
    return parts


async def test_upload_is_multipart_with_one_link_field(tmp_path: Path) -> None:
    transport = RecordingTransport(
        lambda request: ok(request, {"Id": "F1", "Name": "a.pdf", "Size": "3"}, 201)
    )
    client = client_with(transport)
    created = await client.files.upload(
        b"%PDF", filename="a.pdf", content_type="application/pdf", work_item_key="W1"
    )
    assert created.id == "F1"
    parts = parse_multipart(transport.sent[0])
    assert set(parts) == {"workitem_keys", "file"}
    assert parts["workitem_keys"][2] == b"W1"
    assert parts["file"] == ("a.pdf", "application/pdf", b"%PDF")

    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello")
    await client.files.upload(path, contact_key="C1", content_type="text/plain")
    parts = parse_multipart(transport.sent[1])
    assert parts["file"] == ("notes.txt", "text/plain", b"hello")
    assert set(parts) == {"contact_keys", "file"}


@pytest.mark.parametrize(
    "links",
    [{}, {"contact_key": "C1", "work_item_key": "W1"}, {"contact_key": "C1,C2"}],
)
async def test_upload_needs_exactly_one_single_key(links: dict[str, str]) -> None:
    transport = RecordingTransport()
    with pytest.raises(ValueError):
        await client_with(transport).files.upload(b"x", filename="a.txt", **links)  # type: ignore[arg-type]
    assert transport.sent == []


async def test_upload_refuses_a_filename_with_a_path_or_line_break() -> None:
    transport = RecordingTransport()
    for filename in ("../etc/passwd", "a\r\nb.txt"):
        with pytest.raises(ValueError):
            await client_with(transport).files.upload(b"x", filename=filename, contact_key="C1")
    assert transport.sent == []


async def test_download_follows_the_redirect_without_credentials(tmp_path: Path) -> None:
    def handler(request: Request) -> Response:
        return Response(
            status=302,
            headers={"Location": "http://127.0.0.2:9/blob/abc?sig=1"},
            body=b"",
            url=request.url,
        )

    transport = RecordingTransport(handler)
    client = client_with(transport)
    chunks = [chunk async for chunk in client.files.download("F1")]
    assert chunks == [b"chunk-one", b"chunk-two"]
    assert urlsplit(transport.sent[0].url).path == "/v3/FileDetails/F1/Download"
    assert "Authorization" in transport.sent[0].headers
    (offsite,) = transport.streamed
    assert offsite.url == "http://127.0.0.2:9/blob/abc?sig=1"
    assert not {"Authorization", "AccessKey"} & set(offsite.headers)
    assert await client.files.download_to("F1", tmp_path / "out.bin") == 18
    assert (tmp_path / "out.bin").read_bytes() == b"chunk-onechunk-two"


async def test_download_by_token_streams_with_credentials() -> None:
    transport = RecordingTransport()
    client = client_with(transport)
    chunks = [chunk async for chunk in client.files.download_by_token("tok en")]
    assert b"".join(chunks) == b"chunk-onechunk-two"
    (request,) = transport.streamed
    assert request.url == f"{BASE}/v3/Files?token=tok%20en"
    assert request.headers["AccessKey"] == "key"


# --- custom fields --------------------------------------------------------------------------


def test_custom_field_accessors_are_typed() -> None:
    values = ka.structure(
        {
            "EntityKey": "C1",
            "CustomFieldValues": [
                {"Key": "k1", "Name": "Industry", "Type": "ListSingleSelect", "Value": ["Tech"]},
                {"Key": "k2", "Name": "Revenue", "Type": "Number", "Value": ["12.50"]},
                {"Key": "k3", "Name": "Since", "Type": "Date", "Value": ["2024-02-29"]},
                {"Key": "k4", "Name": "Active", "Type": "Boolean", "Value": ["true"]},
                {"Key": "k5", "Name": "Tags", "Type": "ListMultipleSelect", "Value": ["a", "b"]},
                {"Key": "k6", "Name": "Note", "Type": "Text", "Value": []},
                {"Key": "k7", "Name": "Owner", "Type": "Colleague", "Value": ["U1"]},
            ],
        },
        m.CustomFieldValues,
    )
    fields = ka.CustomFieldAccessor(values)
    assert fields.single_select("Industry") == "Tech"
    assert fields.number("k2") == Decimal("12.50")
    assert fields.date("Since") == dt.date(2024, 2, 29)
    assert fields.boolean("Active") is True
    assert fields.multiple_select("Tags") == ["a", "b"]
    assert fields.text("Note") is None
    assert fields.colleague("Owner") == "U1"
    with pytest.raises(TypeError):
        fields.text("Revenue")
    with pytest.raises(KeyError):
        fields.text("Nope")


def test_custom_field_values_are_written_as_strings() -> None:
    body = ka.custom_field_values_request(
        "C1",
        [
            ka.custom_field_value("k2", "Number", Decimal("3.5")),
            ka.custom_field_value("k3", m.CustomFieldType.DATE, dt.date(2025, 1, 2)),
            ka.custom_field_value("k4", "Boolean", False),
            ka.custom_field_value("k5", "ListMultipleSelect", ["a", "b"]),
            ka.custom_field_value("k6", "Text", None),
        ],
    )
    values = [v["Value"] for v in ka.unstructure(body)["CustomFieldValues"]]
    assert values == [["3.5"], ["2025-01-02"], ["false"], ["a", "b"], []]
    with pytest.raises(TypeError):
        ka.custom_field_value("k4", "Boolean", "yes")


# --- enums ----------------------------------------------------------------------------------


def test_primary_status_spellings_are_one_value_written_spaced_in_filters() -> None:
    spaced = ka.structure("In Progress", m.PrimaryStatus)
    joined = ka.structure("InProgress", m.PrimaryStatus)
    assert joined is m.PrimaryStatus.IN_PROGRESS  # the spec's spelling is the member
    assert spaced == joined  # the list GET's spelling is an alias of it
    # Whatever the enum's own spelling, the work-items $filter gets the spaced one.
    rendered = render_filter(ka.F.PrimaryStatus == joined, OPERATIONS["getAllWorkItems"])
    assert rendered == "PrimaryStatus eq 'In Progress'"
