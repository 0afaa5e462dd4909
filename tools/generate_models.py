"""Generate ``karbon_async/_generated`` (models, enums, the operation table) from the OpenAPI spec.

Usage: ``python tools/generate_models.py PATH/TO/KarbonAPI.json``

The output is deterministic: the same spec always gives byte-identical files. The spec itself is
never copied into the package. Naming rules, request/response roles and the curated tables below
are described in the module-level comments next to each table.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract_gen import write_contract
from live_facts import NOT_REQUIRED, NUMERIC_STRINGS, PRIMARY_STATUS_SPELLINGS, REQUEST_NULLS
from operations_gen import HEADER, HTTP_METHODS, render_operations

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "karbon_async" / "_generated"
PUBLIC_MODULE = ROOT / "karbon_async" / "models.py"

RESPONSE, REQUEST, PATCH = "response", "request", "patch"

# --------------------------------------------------------------------------------------------
# Curated tables. Everything the spec cannot tell a generator lives here, in one place.
# --------------------------------------------------------------------------------------------

# Enum classes: (class name, member values, docstring). Member values are the spec's exact
# spellings, because they are what requests send: a spec enum maps to the smallest entry whose
# values include all of its values exactly (``tools/spec_check.py`` re-checks every use). Should
# two schemas ever spell one logical enum differently, each spelling needs its own entry here.
# Decoding is looser: KarbonEnum folds spaces, underscores, dashes and case, and ENUM_SPELLINGS
# lists the other spellings the guides document.
ENUMS: list[tuple[str, tuple[str, ...], str]] = [
    (
        "PaymentMethod",
        (
            "Bank Transfer",
            "Direct Debit",
            "Credit Card Online",
            "Credit Card Office",
            "Check",
            "Cash",
            "Other",
            "EFT",
            "Credit Card",
        ),
        "How an invoice was paid. ``EFT`` and ``Credit Card`` are the invoices guide's spellings,"
        " which the spec does not list; prefer the others when recording a payment.",
    ),
    ("ClientType", ("Contact", "Organization", "ClientGroup"), "The kind of a client."),
    (
        "EntityType",
        ("WorkItem", "Contact", "Organization", "ClientGroup"),
        "The kind of entity a note, expense or file is attached to.",
    ),
    ("RestrictionLevel", ("Public", "Private", "Hidden"), "Who may see a client."),
    (
        "WebhookType",
        (
            "Contact",
            "CustomField",
            "Work",
            "Note",
            "User",
            "IntegrationTask",
            "Invoice",
            "EstimateSummary",
        ),
        "The kind of events a webhook subscription delivers.",
    ),
    (
        "InvoiceStatus",
        ("Approved", "AwaitingPayment", "Paid", "Exported", "Voided"),
        "The status of an invoice.",
    ),
    (
        "PaymentType",
        ("ManualPayment", "ManualPaymentReversed", "Payment"),
        "How a payment was made.",
    ),
    (
        "BillableItemType",
        ("TimeEntry", "Expense", "Entity"),
        "The kind of billable item behind an invoice line.",
    ),
    ("AddressLabel", ("Physical", "Mailing", "Legal", "Home"), "The label of an address."),
    (
        "PhoneNumberLabel",
        ("Work", "Mobile", "Office", "Fax", "Home", "Other"),
        "The label of a phone number.",
    ),
    ("MemberType", ("User", "Team"), "Whether a member is a user or a team."),
    (
        "ClientTeamRole",
        ("ClientOwner", "ClientManager", "UserDefinedRole1", "UserDefinedRole2"),
        "The role of a client team member.",
    ),
    ("AccessLevel", ("Limited", "FullAccess"), "A client's access level in Karbon for Clients."),
    (
        "CustomFieldType",
        (
            "Text",
            "Number",
            "Date",
            "Boolean",
            "Colleague",
            "ListSingleSelect",
            "ListMultipleSelect",
        ),
        "The data type of a custom field.",
    ),
    ("Salutation", ("Mr", "Mrs", "Ms", "Miss", "Dr", "Prof", "Rev"), "A salutation."),
    ("Sex", ("M", "F"), "A person's sex as recorded in accounting details."),
    (
        "LegalEntityType",
        (
            "Corporation",
            "Club or Society",
            "Estate or Trust",
            "Exempt Organization",
            "Partnership",
            "Private Foundation",
            "S Corporation",
            "Person",
            "Sole Proprietor",
            "Limited Liability",
            "Charitable Incorporated Organisation",
            "Company Limited by Guarantee",
            "Community Interest Company",
            "Limited Liability Partnership",
            "Local Authority",
            "Non Departmental Public Body",
            "Pension Scheme",
            "Royal Charter",
            "Unincorporated Association",
            "Other/None",
        ),
        "The legal form of a client.",
    ),
    (
        "TaxCountryCode",
        (
            "US",
            "AU",
            "UK",
            "NZ",
            "CA",
            "ZA",
            "HK",
            "FR",
            "SG",
            "IE",
            "SE",
            "FI",
            "DK",
            "NO",
            "IN",
            "CH",
        ),
        "The country a client pays tax in.",
    ),
    ("TaxBasis", ("Cash", "Accruals", "None", "Close"), "A GST or sales tax basis."),
    (
        "InstallmentPeriod",
        ("Monthly", "Quarterly", "Yearly"),
        "How often income tax installments are paid.",
    ),
    (
        "RevenueModel",
        (
            "Advertising",
            "Commission",
            "E-Commerce",
            "Fee for Service",
            "Licensing",
            "Markup",
            "Production",
            "Subscription",
        ),
        "How a client makes its revenue.",
    ),
    (
        "Sells",
        ("Services", "Products", "Products and Services", "Other"),
        "What a client sells.",
    ),
    (
        "RegistrationNumberType",
        (
            "Australian Business Number (ABN)",
            "Australian Company Number (ACN)",
            "Tax File Number (TFN)",
            "Social Security Number (SSN)",
            "Tax ID",
            "VAT Number",
            "Company Registration Number",
            "PAYE Reference Number",
            "PAYE Accounts Office Reference",
            "CT Reference",
            "Unique Taxpayer Reference (UTR)",
            "NZ Business Number",
            "GST Number",
            "IRD Number",
            "Business Number",
            "Social Insurance Number (SIN)",
            "Registration Number",
            "Income Tax Number",
            "PAYE Number",
            "DOL UIF Number",
            "SDL Number",
            "DOL Workman Compensation",
            "Company Number",
            "Business Registration Number",
            "Charity Number",
            "MPF provider",
            "RCS",
            "SIRET",
            "UEN",
            "RCT Reference",
            "Companies Office Number",
            "KUND ID",
            "Organisation Number",
            "Finnish Business ID",
            "CVR Number",
            "GST Identification Number (GSTIN)",
            "Permanent Account Number (PAN)",
        ),
        "The kind of a registration number.",
    ),
    (
        "AccountingNoteType",
        ("Basic", "Tax", "System", "Owner", "Officer"),
        "The kind of an accounting note.",
    ),
    (
        "PrimaryStatus",
        ("Planned", "ReadyToStart", "InProgress", "Waiting", "Completed"),
        "The built-in status of a work item. Bodies use ``InProgress``; the list GET and"
        " ``$filter`` use ``In Progress`` (``member.spellings`` has both).",
    ),
    (
        "FeeType",
        ("FixedFee", "TimeAndMaterials", "NonBillable"),
        "How work is billed.",
    ),
    (
        "TimesheetStatus",
        ("Approved", "Declined", "Draft", "Submitted"),
        "The approval status of a timesheet.",
    ),
    (
        "BilledStatus",
        ("Unbilled", "Draft", "InterimBilled", "Billed"),
        "Whether a time entry has been billed.",
    ),
    (
        "RecurrenceFrequency",
        ("Day", "Week", "SemiMonth", "Fortnight", "Month", "Quarter", "Year", "Custom"),
        "How often a work schedule repeats.",
    ),
    ("TimeUnit", ("Days", "Weeks", "Months", "Years"), "A unit of calendar time."),
    (
        "ScheduleDueDateMethod",
        (
            "DaysFromStartDate",
            "DayOfMonth",
            "LastDayOfMonth",
            "DayOfNextMonth",
            "DayOfSubsequentMonth",
            "NoDueDate",
        ),
        "How the due date of a scheduled work item is counted.",
    ),
    ("WorkStatusType", ("Primary", "Secondary"), "Whether a work status is primary or secondary."),
    (
        "WebhookResourceType",
        (
            "Contact",
            "CustomFieldValue",
            "Estimate",
            "IntegrationTask",
            "Invoice",
            "Note",
            "NoteComment",
            "User",
            "Work",
        ),
        "The kind of resource a webhook payload is about.",
    ),
    (
        "WebhookActionType",
        ("Inserted", "Updated", "Deleted"),
        "What happened to the resource a webhook payload is about.",
    ),
]

# Other spellings of a member that the API or its guides use, by (enum, member value): decoded to
# an alias of the member that re-encodes as received, and listed by ``member.spellings``.
# PrimaryStatus's spaced forms are a live fact (the list GET sends them, $filter needs them).
ENUM_SPELLINGS: dict[tuple[str, str], tuple[str, ...]] = {
    **{("PrimaryStatus", value): (spaced,) for value, spaced in PRIMARY_STATUS_SPELLINGS},
    ("PaymentMethod", "Bank Transfer"): ("BankTransfer",),
    ("PaymentMethod", "Direct Debit"): ("DirectDebit",),
}

# Properties whose enum is named by the property, not the value set (webhook payload fields with
# one-value enums that would otherwise land in an unrelated class).
ENUM_BY_PROPERTY = {
    "ResourceType": "WebhookResourceType",
    "ParentEntityType": "WebhookResourceType",
    "ActionType": "WebhookActionType",
}

# Component schemas whose name needs tidying beyond PascalCase.
COMPONENT_NAMES = {
    "customfield-webhook": "CustomFieldWebhook",
}

# Inline (unnamed) response bodies: operationId -> class name. Inline request bodies are named
# by BODY_NAMES.
INLINE_NAMES = {
    "getBusinessCardByKey": "BusinessCardWithEntity",
    "createManualPayment": "ManualPaymentCreated",
    "createClientGroup": "ClientGroup",
    "patchContactsByID": "PatchedContact",
    "patchOrganizationByID": "PatchedOrganization",
    "getOrganizationByID": "OrganizationWithContacts",
    "createFile": "FileCreated",
    "createWorkItem": "WorkItemCreated",
    "getWorkItemByID": "WorkItem",
}

# The naming scheme of request models, which every request body follows (checked by
# ``Generator.check_names``):
# * a body is ``<Verb><Noun>Request``: ``Create`` for a POST to a collection, ``Replace`` for a
#   PUT, ``Patch`` for a PATCH, the action's own verb for a record action (``AddTeamMembers``);
# * a model only a request body contains is ``<Noun>Input``, the noun being the response model's
#   (``BusinessCardInput``) or the owner's plus the property's (``DetailsOfAccountingNoteInput``);
# * a model both sides contain unchanged has a plain noun (``EntityDescription``), because a
#   response field must never be typed with a request-named class.
# Request bodies are named here by operationId, whatever the spec calls their schema. Where the
# spec gives a POST and a PUT one schema, the PUT's name is an alias of the same class.
BODY_NAMES: dict[str, str] = {
    "addTeamMembers": "AddTeamMembersRequest",
    "createClientGroup": "CreateClientGroupRequest",
    "createContact": "CreateContactRequest",
    "CreateCustomFieldDefinition": "CreateCustomFieldDefinitionRequest",
    "createExpense": "CreateExpenseRequest",
    "createFile": "CreateFileRequest",
    "createManualPayment": "CreateManualPaymentRequest",
    "createNote": "CreateNoteRequest",
    "createOrganization": "CreateOrganizationRequest",
    "createUser": "CreateUserRequest",
    "createWebhookSubscription": "CreateWebhookSubscriptionRequest",
    "createWorkItem": "CreateWorkItemRequest",
    "createWorkSchedule": "CreateWorkScheduleRequest",
    "patchClientGroupByID": "PatchClientGroupRequest",
    "patchContactsByID": "PatchContactRequest",
    "patchOrganizationByID": "PatchOrganizationRequest",
    "patchWorkItemByID": "PatchWorkItemRequest",
    "patchWorkScheduleByID": "PatchWorkScheduleRequest",
    "putClientGroupByID": "ReplaceClientGroupRequest",
    "putContactByID": "ReplaceContactRequest",
    "putOrganizationByID": "ReplaceOrganizationRequest",
    "putWorkItemByID": "ReplaceWorkItemRequest",
    "putWorkScheduleByID": "ReplaceWorkScheduleRequest",
    "removeTeamMember": "RemoveTeamMemberRequest",
    "reverseManualPayment": "ReverseManualPaymentRequest",
    "UpdateCustomFieldValues": "ReplaceCustomFieldValuesRequest",
    "UpdateIntegrationTask": "ReplaceIntegrationTaskRequest",
    "updateBusinessCardByKey": "ReplaceBusinessCardRequest",
}
BODY_NAME_PATTERN = re.compile(r"(Create|Replace|Patch|Add|Remove|Reverse)[A-Z]\w*Request")

# Request-side component schemas that responses use too, by the response schema that has every
# property they have and more (BusinessCard's addresses carry their keys): responses decode with
# that one, so ``Contact.business_cards`` holds ``BusinessCard`` records.
RESPONSE_TWINS: dict[str, str] = {"BusinessCardRequest": "BusinessCard"}

# Names this SDK used before the scheme above: still importable from ``karbon_async.models``,
# with a DeprecationWarning naming the new one.
DEPRECATED_NAMES: dict[str, str] = {
    "AddTeamMembers": "AddTeamMembersRequest",
    "BusinessCardRequest": "BusinessCard",
    "BusinessCardRequestAddress": "BusinessCardAddress",
    "BusinessCardRequestPhoneNumber": "BusinessCardPhoneNumber",
    "CreateClientGroup": "CreateClientGroupRequest",
    "CreateClientGroupEntityDescription": "EntityDescription",
    "CreateClientGroupMember": "ClientGroupMember",
    "CreateClientGroupRequestClientTeam": "ClientTeamMember",
    "CreateContact": "CreateContactRequest",
    "CreateOrganization": "CreateOrganizationRequest",
    "CustomFieldDefinitionRequest": "CreateCustomFieldDefinitionRequest",
    "CustomFieldValueRequest": "CustomFieldValueInput",
    "CustomFieldValuesRequest": "ReplaceCustomFieldValuesRequest",
    "DetailsOfAccountingRequest": "DetailsOfAccountingInput",
    "ExpenseRequest": "CreateExpenseRequest",
    "ExpenseRequestTimeline": "Timeline",
    "IntegrationTaskWriteable": "ReplaceIntegrationTaskRequest",
    "NoteRequest": "CreateNoteRequest",
    "RemoveTeamMember": "RemoveTeamMemberRequest",
    "RequestCreateWorkItem": "CreateWorkItemRequest",
    "ResponseCreateContactClientAccess": "ClientAccess",
    "UpdateBusinessCardRequest": "ReplaceBusinessCardRequest",
    "UpdateClientGroupRequest": "ReplaceClientGroupRequest",
    "UpdateOrganization": "ReplaceOrganizationRequest",
    "UpdateWorkItem": "PatchWorkItemRequest",
    "UpdateWorkSchedule": "PatchWorkScheduleRequest",
    "WorkSchedulePUTRequest": "ReplaceWorkScheduleRequest",
    "WorkScheduleRequest": "CreateWorkScheduleRequest",
}

# Items of inline list envelopes: (operationId) -> class name.
LIST_ITEM_NAMES = {
    "getInvoices": "BillingInvoice",
    "getPayments": "BillingPayment",
    "getClientGroups": "ClientGroupSummary",
    "getAllContacts": "ContactSummary",
    "getAllOrganizations": "OrganizationSummary",
    "GetCustomFieldDefinitions": "CustomFieldDefinitionWithKey",
    "getEstimateSummariesByWorkItemKey": "EstimateSummary",
    "getAllWorkItems": "WorkItemSummary",
}

# Required request fields the spec states only in prose or with a draft-3 boolean ``required``
# (FACTS: TargetUrl and WebhookType are required). Keyed by (final class name, JSON key), as are
# EXTRA_LIMITS: both are applied after renaming, and the conformance tools read them by name.
EXTRA_REQUIRED = {
    ("CreateWebhookSubscriptionRequest", "TargetUrl"),
    ("CreateWebhookSubscriptionRequest", "WebhookType"),
}

# Request limits documented in prose rather than JSON Schema keywords.
EXTRA_LIMITS: dict[tuple[str, str], dict[str, Any]] = {
    ("CreateWebhookSubscriptionRequest", "TargetUrl"): {"prefix": "https://"},
    ("CreateExpenseRequest", "Description"): {"max_length": 250},
    ("CreateExpenseRequest", "Value"): {"minimum": "0"},
    ("CreateExpenseRequest", "BillableValue"): {"minimum": "0"},
}

# Friendly public names for the models users meet most, applied after generation: the spec's
# names (GetSingleUser, ResponseCreateContact) describe an operation, not a record. Scheme: the
# full record is the plain noun (``Contact``); a list item is ``<Noun>Summary``; a create response
# that differs from the record is ``<Noun>Created``.
CLASS_RENAMES: dict[str, str] = {
    "ResponseCreateContact": "Contact",
    "OrganizationWithContacts": "Organization",
    "WithBusinessCardsCreateOrganizationResponse": "OrganizationWithBusinessCards",
    "CreateOrganizationResponse": "OrganizationCreated",
    "GetUserById": "User",
    "GetSingleUser": "UserSummary",
    "GetComment": "Comment",
    "GetSingleTimeSheet": "Timesheet",
    "GetIndividualTimeEntry": "TimeEntry",
    "GetSingleWorkTemplate": "WorkTemplate",
    "GetWorkSchedule": "WorkSchedule",
    "GetTenantSettings": "TenantSettings",
    "GetWebhookSubscriptions": "WebhookSubscription",
    "BillingInvoiceWithPayment": "Invoice",
    "BillingInvoice": "InvoiceSummary",
    "BillingPayment": "Payment",
    "NoteResponse": "Note",
    "ExpenseResponse": "Expense",
    # inline objects first met in a request body, named for what they are on both sides
    "CreateClientGroupEntityDescription": "EntityDescription",
    "CreateClientGroupMember": "ClientGroupMember",
    "CreateClientGroupRequestClientTeam": "ClientTeamMember",
    "ExpenseRequestTimeline": "Timeline",
    "ResponseCreateContactClientAccess": "ClientAccess",
}

# The key of every record model (by final class name): typed ``str`` and required when decoding,
# because a record without its key is of no use. Not Payment: the spec's own getPayments example
# has no PaymentKey (an InvoiceKey instead), so a payment without one is decoded, its key None.
RECORD_KEYS: dict[str, str] = {
    "BusinessCardWithEntity": "BusinessCardKey",
    "ClientGroup": "ClientGroupKey",
    "ClientGroupSummary": "ClientGroupKey",
    "Comment": "CommentKey",
    "Contact": "ContactKey",
    "ContactSummary": "ContactKey",
    "PatchedContact": "ContactKey",
    "CustomFieldDefinitionWithKey": "Key",
    "EstimateSummary": "EstimateSummaryKey",
    "Expense": "ExpenseKey",
    "IntegrationTask": "TaskKey",
    "IntegrationTaskDefinition": "TaskDefinitionKey",
    "Invoice": "InvoiceKey",
    "InvoiceSummary": "InvoiceKey",
    "Note": "Id",
    "Organization": "OrganizationKey",
    "OrganizationCreated": "OrganizationKey",
    "OrganizationSummary": "OrganizationKey",
    "OrganizationWithBusinessCards": "OrganizationKey",
    "PatchedOrganization": "OrganizationKey",
    "Role": "Key",
    "Team": "TeamKey",
    "TimeEntry": "IndividualTimeEntryKey",
    "Timesheet": "TimesheetKey",
    "User": "Id",
    "UserSummary": "Id",
    "WorkItem": "WorkItemKey",
    "WorkItemCreated": "WorkItemKey",
    "WorkItemSummary": "WorkItemKey",
    "WorkSchedule": "WorkScheduleKey",
    "WorkTemplate": "WorkTemplateKey",
}

# Attribute names other than the JSON key's snake_case (by final class name and JSON key): the
# new name, and the old one, kept as a property that warns (DeprecationWarning). A note's key
# is ``note_key`` like every other record's ``<thing>_key``, though the API calls it ``Id``.
FIELD_RENAMES: dict[tuple[str, str], tuple[str, str]] = {
    ("Note", "Id"): ("note_key", "id"),
}

# Spec descriptions that describe another schema (by final class name): what the spec says,
# and what the class's docstring says instead (followed, as for every class, by where the
# class is used).
MISPLACED_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    # NoteResponse's description, copied from the Contact schema.
    "Note": ("A single Contact.", "A single Note, with its comments."),
    # The description of a create answer with $expand=BusinessCards.
    "Organization": ("The response returned when a business card", "A single Organization."),
    # One class serves notes and expenses; the spec's text speaks of expenses only.
    "Timeline": (
        "The entity the Expense is recorded against.",
        "The record (its type and key) a note or an expense is linked to.",
    ),
}
# The same for fields: (final class name, JSON key) -> (what the spec says, what is said instead).
MISPLACED_FIELD_DESCRIPTIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("Timeline", "EntityType"): (
        "The type of entity this Expense will be linked to.",
        "The type of the record the note or expense is linked to.",
    ),
}

# Fields holding a secret (by final class name and JSON key): their repr says whether they are
# set, never the value, so a logged or traceback-captured request cannot leak the key.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "CreateWebhookSubscriptionRequest": frozenset({"SigningKey"}),
}

# Page sizes stated only in prose; used when the description has no recognisable number.
PAGE_SIZE_FALLBACK: dict[str, int] = {}

# --------------------------------------------------------------------------------------------
# Fields the guides and release notes document but the spec does not declare. Each row is
# (component schema, JSON key, JSON Schema of the property, source). They are merged into a copy
# of the spec before generation, so they are named, typed and decoded like any spec field;
# a row whose key the spec gains later is an error, so the table never shadows the spec.
# --------------------------------------------------------------------------------------------

DOCUMENTED_ENUMS: list[tuple[str, tuple[str, ...], str]] = [
    (
        "TaxLocation",
        ("Presentation", "Data"),
        "Which part of an invoice carries its tax: ``Presentation``, the line items; ``Data``, "
        "the Data entries (``$expand=Data``).",
    ),
]

DOCUMENTED_FIELDS: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "BillingInvoiceWithPayment",
        "TaxLocation",
        {
            "type": ["string", "null"],
            "enum": ["Presentation", "Data"],
            "description": "Where the invoice's tax fields are filled in: on the line items "
            "(Presentation) or on the Data entries (Data); the other side has them null.",
        },
        "Karbon release notes 2025-09-29 (single invoice $expand=Data, new TaxLocation)",
    ),
]


def with_documented_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the DOCUMENTED_FIELDS rows added to their schemas."""
    spec = json.loads(json.dumps(spec))
    schemas = spec["components"]["schemas"]
    for schema_name, key, prop, _source in DOCUMENTED_FIELDS:
        props = schemas[schema_name].setdefault("properties", {})
        if key in props:
            raise GeneratorError(f"DOCUMENTED_FIELDS: the spec now declares {schema_name}.{key}")
        props[key] = prop
    return spec


# --------------------------------------------------------------------------------------------
# Naming helpers
# --------------------------------------------------------------------------------------------


def fold(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).casefold()


def pascal(text: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", text)
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


def snake(name: str) -> str:
    """A snake_case field name: ``ContactKey`` -> ``contact_key``, ``ID`` -> ``id``."""
    text = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    text = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", text)
    text = re.sub(r"_+", "_", text).lower()
    if not text or text[0].isdigit():
        text = "f_" + text
    if keyword.iskeyword(text) or text in {"extra", "self"}:
        text += "_"
    return text


def derived_api_name(py_name: str) -> str:
    """Mirror of ``karbon_async._converter.api_name`` for a field without metadata."""
    return "".join(part[:1].upper() + part[1:] for part in py_name.split("_"))


def member_name(value: str) -> str:
    text = re.sub(r"[^A-Za-z0-9]+", "_", value)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text).strip("_").upper()
    if not text or text[0].isdigit():
        text = "V_" + text
    return text


def singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "ches", "shes", "uses")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def nested_name(owner: str, prop: str) -> str:
    """The class name of an inline object: ``DetailsOfAccounting`` + ``Notes[]`` -> ...Note."""
    item = pascal(prop)
    if owner.endswith(item):
        return owner  # BillingClient.Client -> BillingClient
    if owner.endswith(item + "s"):
        return owner[:-1]  # BillingInvoiceLineItems.LineItems[] -> BillingInvoiceLineItem
    return owner + item


def first_sentence(text: str | None, limit: int = 300) -> str:
    if not text:
        return ""
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = match.group(1) if match else text
    if len(sentence) > limit:
        sentence = sentence[: limit - 3].rstrip() + "..."
    sentence = sentence.replace("\\", "\\\\").replace('"""', "'''")
    if sentence and sentence[-1] not in ".!?":
        sentence += "."
    return sentence[:1].upper() + sentence[1:]


def docstring(text: str, indent: str) -> list[str]:
    if not text:
        return []
    width = 100 - len(indent) - 6
    lines = textwrap.wrap(text, width=width) or [text]
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    out = [f'{indent}"""{lines[0]}']
    out += [f"{indent}{line}" for line in lines[1:-1]]
    out.append(f'{indent}{lines[-1]}"""')
    return out


# --------------------------------------------------------------------------------------------
# The intermediate representation
# --------------------------------------------------------------------------------------------


@dataclass
class FieldDef:
    api_name: str
    py_name: str
    type_expr: str
    nullable: bool
    required: bool
    description: str
    limits: dict[str, Any] = field(default_factory=dict)
    enum_values: tuple[str, ...] = ()  # the spec's own enum spelling, for tools/spec_check.py
    numeric_string: bool = False  # an integer field that also takes "11" (live_facts)


@dataclass
class ModelDef:
    name: str
    role: str
    description: str
    fields: list[FieldDef]
    source: str

    def signature(self) -> tuple[Any, ...]:
        # A request model with nothing request-specific is the same class as its response twin.
        specific = self.role == PATCH or any(f.required or f.limits for f in self.fields)
        return (
            self.role if specific else RESPONSE,
            tuple(
                (
                    f.api_name,
                    f.py_name,
                    f.type_expr,
                    f.nullable,
                    f.required,
                    repr(f.limits),
                )
                for f in self.fields
            ),
        )


@dataclass
class EnumDef:
    name: str
    values: tuple[str, ...]
    description: str
    used: bool = False


@dataclass
class OperationDef:
    operation_id: str
    method: str
    path: str
    tag: str
    summary: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    header_params: tuple[str, ...]
    request_model: str | None
    request_content_type: str | None
    response_model: str | None
    response_content_type: str | None
    success_status: int
    list_key: str | None
    paginated: bool
    max_page_size: int | None
    deprecated: bool


class GeneratorError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.schemas: dict[str, Any] = spec["components"]["schemas"]
        self.models: dict[str, ModelDef] = {}
        self.order: list[str] = []
        self.by_signature: dict[tuple[Any, ...], str] = {}
        self.component_classes: dict[tuple[str, str], str] = {}
        self.enums = {name: EnumDef(name, values, doc) for name, values, doc in ENUMS}
        self.operations: list[OperationDef] = []
        self.warnings: list[str] = []
        self.response_reachable = self.reachable_from_responses()
        self.request_side: set[str] = set()  # classes a request body can contain (after classify)
        self.shared: set[str] = set()  # ...that a response can contain too
        self.aliases: dict[str, str] = {}  # second names of request bodies (see name_bodies)

    def reachable_from_responses(self) -> set[str]:
        found: set[str] = set()

        seen: set[tuple[str, bool]] = set()

        def walk(node: Any, as_class: bool = True) -> None:
            # A schema reached through allOf/anyOf is flattened into its parent, not a class use.
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                    name = ref.rsplit("/", 1)[1]
                    if as_class:
                        found.add(name)
                    if (name, as_class) not in seen:
                        seen.add((name, as_class))
                        walk(self.schemas[name], as_class)
                for key, value in node.items():
                    if key in ("allOf", "anyOf"):
                        for branch in value:
                            walk(branch, as_class=False)
                    else:
                        walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        for path_item in self.spec["paths"].values():
            for method in HTTP_METHODS:
                op = path_item.get(method)
                if op is not None:
                    for status, response in op["responses"].items():
                        if status[0] in "23":
                            walk(response.get("content"))
        return found

    # --- schema plumbing -------------------------------------------------------------------

    def resolve(self, schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        ref = schema.get("$ref")
        if ref is None:
            return None, schema
        prefix = "#/components/schemas/"
        if not ref.startswith(prefix):
            raise GeneratorError(f"unsupported $ref {ref}")
        name = ref[len(prefix) :]
        return name, self.schemas[name]

    @staticmethod
    def unwrap_nullable(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Strip the four spellings of "or null" and return (schema, nullable)."""
        nullable = bool(schema.get("nullable"))
        schema = dict(schema)
        types = schema.get("type")
        if isinstance(types, list):
            rest = [t for t in types if t != "null"]
            nullable = nullable or len(rest) < len(types)
            schema["type"] = rest[0] if len(rest) == 1 else rest
        if "enum" in schema and None in schema["enum"]:
            nullable = True
            schema["enum"] = [v for v in schema["enum"] if v is not None]
        for key in ("oneOf", "anyOf"):
            branches = schema.get(key)
            if not branches:
                continue
            rest = [b for b in branches if b.get("type") != "null"]
            if len(rest) < len(branches):
                nullable = True
            merged = {k: v for k, v in schema.items() if k != key}
            if len(rest) == 1:
                inner, inner_null = Generator.unwrap_nullable(rest[0])
                merged.update(inner)
                return merged, nullable or inner_null
            formats = set()
            for branch in rest:
                inner, inner_null = Generator.unwrap_nullable(branch)
                nullable = nullable or inner_null
                if inner.get("type") == "string":
                    formats.add(inner.get("format"))
            if formats and formats <= {"date-time", "date"}:
                # "an ISO 8601 date or date-time": a datetime (date-only strings decode too).
                merged.update({"type": "string", "format": "date-time"})
                return merged, nullable
            if key == "anyOf":
                return schema, nullable
            raise GeneratorError(f"unsupported oneOf: {json.dumps(branches)[:200]}")
        return schema, nullable

    @staticmethod
    def is_odata_only(schema: dict[str, Any]) -> bool:
        props = schema.get("properties") or {}
        return (
            "$ref" not in schema
            and bool(props)
            and all(key.startswith("@odata.") for key in props)
            and not any(k in schema for k in ("allOf", "anyOf", "oneOf"))
        )

    def collect(self, schema: dict[str, Any]) -> tuple[dict[str, Any], set[str], str]:
        """Flatten an object schema (allOf/anyOf merged) to (properties, required, description)."""
        props, required, description = self.collect_owned(schema)
        return {key: value[0] for key, value in props.items()}, required, description

    def collect_owned(
        self, schema: dict[str, Any], owner: str | None = None
    ) -> tuple[dict[str, tuple[Any, str | None]], set[str], str]:
        """Like ``collect``; each property also names the component class that declares it."""
        description = schema.get("description", "")
        name, schema = self.resolve(schema)
        if name is not None:
            owner = COMPONENT_NAMES.get(name, pascal(name))
        description = description or schema.get("description", "")
        props: dict[str, tuple[Any, str | None]] = {}
        required: set[str] = set(schema.get("required") or [])
        for key in ("allOf", "anyOf"):
            for branch in schema.get(key, []):
                if self.is_odata_only(branch):
                    continue
                sub_props, sub_required, sub_description = self.collect_owned(branch, owner)
                props.update(sub_props)
                if key == "allOf":
                    required |= sub_required
                description = description or sub_description
        props.update(
            {key: (value, owner) for key, value in (schema.get("properties") or {}).items()}
        )
        return props, required, description

    def list_envelope(self, schema: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(array key, item schema) when ``schema`` is an OData collection envelope."""
        _, resolved = self.resolve(schema)
        props = resolved.get("properties") or {}
        keys = [k for k in props if not k.startswith("@odata.")]
        if len(keys) == 1 and keys[0] in ("value", "values"):
            array = props[keys[0]]
            if array.get("type") == "array":
                return keys[0], array["items"]
        return None

    # --- enums -----------------------------------------------------------------------------

    def enum_for(self, values: list[str], prop: str, where: str) -> str:
        if prop in ENUM_BY_PROPERTY:
            enum = self.enums[ENUM_BY_PROPERTY[prop]]
        else:
            wanted = set(values)
            candidates = [e for e in self.enums.values() if wanted <= set(e.values)]
            if not candidates:
                raise GeneratorError(f"no enum class spells {values} exactly ({where})")
            enum = min(candidates, key=lambda e: (len(e.values), e.name))
        missing = set(values) - set(enum.values)
        if missing:
            raise GeneratorError(f"enum {enum.name} lacks {missing} ({where})")
        enum.used = True
        return enum.name

    # --- types -----------------------------------------------------------------------------

    def type_of(self, schema: dict[str, Any], owner: str, prop: str, role: str) -> str:
        nested_role = REQUEST if role == PATCH else role
        name, resolved = self.resolve(schema)
        if name is not None:
            if resolved.get("type") == "array":
                return self.type_of(resolved, owner, prop, role)
            return self.component_model(name, nested_role)
        schema, _ = self.unwrap_nullable(schema)
        if "anyOf" in schema or "oneOf" in schema:
            raise GeneratorError(f"unsupported union at {owner}.{prop}")
        kind = schema.get("type")
        if kind is None and ("properties" in schema or "allOf" in schema):
            kind = "object"
        if kind == "array":
            items = schema.get("items") or {}
            item_type = self.type_of(items, owner, singular(prop), role)
            if self.unwrap_nullable(self.resolve(items)[1])[1]:
                return f"list[{item_type} | None]"
            return f"list[{item_type}]"
        if kind == "object":
            props, _, _ = self.collect(schema)
            if not props:
                return "dict[str, Any]"
            name = nested_name(owner, prop)
            return self.inline_model(schema, name, nested_role, f"{owner}.{prop}")
        if kind == "string":
            if "enum" in schema:
                return self.enum_for(schema["enum"], prop, f"{owner}.{prop}")
            fmt = schema.get("format")
            if fmt == "date-time":
                return "datetime.datetime"
            if fmt == "date":
                return "datetime.date"
            if fmt == "binary":
                return "bytes"
            return "str"  # even where the example looks like a timestamp: the spec says string
        if kind == "integer":
            return "int"
        if kind == "number":
            return "Decimal"
        if kind == "boolean":
            return "bool"
        if kind is None:
            return "Any"
        raise GeneratorError(f"unsupported type {kind!r} at {owner}.{prop}")

    # --- models ----------------------------------------------------------------------------

    def component_model(self, name: str, role: str) -> str:
        key = (name, role)
        if key in self.component_classes:
            return self.component_classes[key]
        twin = RESPONSE_TWINS.get(name)
        if role == RESPONSE and twin is not None:
            missing = set(self.collect(self.schemas[name])[0]) - set(
                self.collect(self.schemas[twin])[0]
            )
            if missing:
                raise GeneratorError(f"RESPONSE_TWINS: {twin} lacks {sorted(missing)} of {name}")
            self.component_classes[key] = self.component_model(twin, RESPONSE)
            return self.component_classes[key]
        class_name = COMPONENT_NAMES.get(name, pascal(name))
        schema = self.schemas[name]
        if role != RESPONSE and name in self.response_reachable:
            # The response model owns the plain name; a differing request twin gets a suffix.
            self.component_model(name, RESPONSE)
        envelope = self.list_envelope(schema)
        if envelope is not None:
            raise GeneratorError(f"list envelope {name} used as a model")
        model = self.build(class_name, schema, role, f"#/components/schemas/{name}")
        existing = self.models.get(class_name)
        differs = existing is not None and existing.signature() != model.signature()
        if differs or (role != RESPONSE and name in RESPONSE_TWINS):
            # The request twin of a response model is ``<Noun>Input`` (a body is renamed later).
            taken = set(self.models) | {COMPONENT_NAMES.get(n, pascal(n)) for n in self.schemas}
            class_name += "Input"
            if class_name in taken:
                raise GeneratorError(f"{name}: request twin name {class_name} is taken")
            model.name = class_name
            self.warnings.append(f"{name}: request and response differ; request is {class_name}")
        self.component_classes[key] = class_name
        self.register(model)
        return class_name

    def inline_model(
        self, schema: dict[str, Any], class_name: str, role: str, where: str = ""
    ) -> str:
        model = self.build(class_name, schema, role, "inline")
        reuse = self.by_signature.get(model.signature())
        if reuse is not None:
            return reuse
        if model.signature()[0] != RESPONSE:
            class_name += "Input"  # the request twin of a nested object with required fields/limits
        base, counter = class_name, 2
        while class_name in self.models:
            class_name = f"{base}{counter}"
            counter += 1
        model.name = class_name
        self.register(model)
        return class_name

    def register(self, model: ModelDef) -> None:
        existing = self.models.get(model.name)
        if existing is not None and existing.signature() != model.signature():
            raise GeneratorError(f"two different classes named {model.name}")
        if existing is None:
            self.order.append(model.name)
        self.models[model.name] = model
        self.by_signature.setdefault(model.signature(), model.name)

    def build(self, class_name: str, schema: dict[str, Any], role: str, source: str) -> ModelDef:
        props, required, description = self.collect_owned(schema)
        fields: list[FieldDef] = []
        seen: set[str] = set()
        for api_name, (prop_schema, prop_owner) in props.items():
            py_name = snake(api_name)
            while py_name in seen:
                py_name += "_"
            seen.add(py_name)
            type_expr = self.type_of(prop_schema, prop_owner or class_name, api_name, role)
            unwrapped, nullable = self.unwrap_nullable(self.resolve(prop_schema)[1])
            is_required = role == REQUEST and api_name in required
            limits = self.limits(unwrapped) if role != RESPONSE else {}
            fields.append(
                FieldDef(
                    api_name=api_name,
                    py_name=py_name,
                    type_expr=type_expr,
                    nullable=nullable,
                    required=is_required,
                    description=first_sentence(prop_schema.get("description")),
                    limits=limits,
                    enum_values=self.enum_values_of(prop_schema),
                )
            )
        return ModelDef(class_name, role, first_sentence(description), fields, source)

    def enum_values_of(self, schema: dict[str, Any]) -> tuple[str, ...]:
        """The spec's enum values of a property (or of its array items); () if none."""
        schema, _ = self.unwrap_nullable(self.resolve(schema)[1])
        if schema.get("type") == "array":
            schema, _ = self.unwrap_nullable(self.resolve(schema.get("items") or {})[1])
        return tuple(v for v in schema.get("enum", ()) if v is not None)

    @staticmethod
    def limits(schema: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, name in (
            ("minLength", "min_length"),
            ("maxLength", "max_length"),
            ("pattern", "pattern"),
        ):
            if key in schema:
                out[name] = schema[key]
        for key, name in (
            ("minimum", "minimum"),
            ("exclusiveMinimum", "exclusive_minimum"),
            ("maximum", "maximum"),
        ):
            if key in schema and not isinstance(schema[key], bool):
                out[name] = str(schema[key])
        items = schema.get("items")
        if schema.get("type") == "array" and isinstance(items, dict) and "maxLength" in items:
            out["item_max_length"] = items["maxLength"]
        return out

    # --- operations ------------------------------------------------------------------------

    def parameters(self, path_item: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
        params: list[dict[str, Any]] = []
        for param in [*path_item.get("parameters", []), *op.get("parameters", [])]:
            ref = param.get("$ref")
            if ref:
                param = self.spec["components"]["parameters"][ref.rsplit("/", 1)[1]]
            params.append(param)
        return params

    def operation(self, path: str, method: str, op: dict[str, Any], params: list[Any]) -> None:
        op_id = op["operationId"]
        request_model = request_type = None
        body = op.get("requestBody")
        if body:
            request_type, media = next(iter(body["content"].items()))
            role = PATCH if method == "patch" else REQUEST
            request_model = self.body_model(media["schema"], op_id, role)
        success = sorted(int(s) for s in op["responses"] if s[0] in "23")
        status = success[0]
        response = op["responses"][str(status)]
        response_model = response_type = list_key = None
        paginated = False
        max_page = None
        content = response.get("content") or {}
        if content:
            response_type, media = next(iter(content.items()))
            schema = media.get("schema")
            if schema is not None and response_type == "application/json":
                envelope = self.list_envelope(schema)
                if envelope is not None:
                    list_key, item = envelope
                    response_model = self.list_item_model(item, op_id)
                    names = {p["name"] for p in params}
                    props = self.resolve(schema)[1].get("properties", {})
                    paginated = "@odata.nextLink" in props or bool({"$top", "$skip"} & names)
                    max_page = self.page_size(op, params, props) if paginated else None
                else:
                    response_model = self.body_model(schema, op_id, RESPONSE)
        path_params = tuple(re.findall(r"{([^}]+)}", path))
        declared = tuple(p["name"] for p in params if p["in"] == "path")
        if set(declared) != set(path_params):
            self.warnings.append(f"{op_id}: path params {path_params} vs declared {declared}")
        self.operations.append(
            OperationDef(
                operation_id=op_id,
                method=method.upper(),
                path=path,
                tag=(op.get("tags") or [""])[0],
                summary=first_sentence(op.get("summary") or op.get("description"), 120),
                path_params=path_params,
                query_params=tuple(p["name"] for p in params if p["in"] == "query"),
                header_params=tuple(p["name"] for p in params if p["in"] == "header"),
                request_model=request_model,
                request_content_type=request_type,
                response_model=response_model,
                response_content_type=response_type,
                success_status=status,
                list_key=list_key,
                paginated=paginated,
                max_page_size=max_page,
                deprecated=bool(op.get("deprecated")),
            )
        )

    def body_model(self, schema: dict[str, Any], op_id: str, role: str) -> str:
        name, _ = self.resolve(schema)
        if name is not None:
            return self.component_model(name, role)
        branches = [b for b in schema.get("allOf", []) if not self.is_odata_only(b)]
        if len(branches) == 1 and len(schema["allOf"]) == 2 and "$ref" in branches[0]:
            # allOf({@odata.context}, X) is X; the converter keeps @odata.context in ``extra``.
            return self.component_model(self.resolve(branches[0])[0] or "", role)
        inline_role = RESPONSE if role == RESPONSE else REQUEST
        class_name = (INLINE_NAMES if role == RESPONSE else BODY_NAMES).get(op_id)
        curated = class_name is not None
        if class_name is None:
            class_name = pascal(op_id) + "Response"
        model = self.build(class_name, schema, role, f"operation {op_id}")
        if curated:
            self.register(model)  # a curated name is kept even if another body looks the same
            return class_name
        existing = self.by_signature.get(model.signature())
        if existing is not None:
            return existing  # e.g. the three ClientGroup GETs share one inline schema
        self.warnings.append(f"{op_id}: inline {inline_role} body named {class_name}")
        if class_name in self.models:
            raise GeneratorError(f"inline class name clash: {class_name}")
        self.register(model)
        return class_name

    def list_item_model(self, item: dict[str, Any], op_id: str) -> str:
        name, _ = self.resolve(item)
        if name is not None:
            return self.component_model(name, RESPONSE)
        class_name = LIST_ITEM_NAMES.get(op_id)
        if class_name is None:
            class_name = pascal(op_id) + "Item"
            self.warnings.append(f"{op_id}: list item named {class_name}")
        return self.inline_model(item, class_name, RESPONSE, f"{op_id}")

    def page_size(
        self, op: dict[str, Any], params: list[dict[str, Any]], props: dict[str, Any]
    ) -> int | None:
        text = op.get("description", "")
        match = re.search(r"more than (\d+)|maximum of (\d+)", text)
        if match:
            return int(match.group(1) or match.group(2))
        for param in params:
            if param["name"] == "$top" and "maximum" in param.get("schema", {}):
                return int(param["schema"]["maximum"])
        link = props.get("@odata.nextLink", {}).get("example", "")
        match = re.search(r"\$top=(\d+)", str(link))
        if match:
            return int(match.group(1))
        return PAGE_SIZE_FALLBACK.get(op["operationId"])

    # --- driver ----------------------------------------------------------------------------

    def run(self) -> None:
        for path, path_item in self.spec["paths"].items():
            for method in HTTP_METHODS:
                op = path_item.get(method)
                if op is not None:
                    self.operation(path, method, op, self.parameters(path_item, op))
        # Schemas no operation reaches as a class (webhook payloads, error bodies, list-only
        # building blocks) are still useful: generate them as response models.
        for name, schema in self.schemas.items():
            if any(key[0] == name for key in self.component_classes):
                continue
            if self.list_envelope(schema) is not None or schema.get("type") == "array":
                continue
            if name in self.flattened_only():
                continue
            self.component_model(name, RESPONSE)

    def apply_renames(self, renames: dict[str, str]) -> None:
        """Rename classes (CLASS_RENAMES) everywhere they are referenced."""
        unknown = {key for key in ENUM_SPELLINGS if key[1] not in self.enums[key[0]].values}
        if unknown:
            raise GeneratorError(f"ENUM_SPELLINGS: no such members {sorted(unknown)}")
        taken = set(self.models) | {e.name for e in self.enums.values()}
        for old, new in renames.items():
            if old not in self.models:
                raise GeneratorError(f"CLASS_RENAMES: no class {old}")
            if new in taken:
                raise GeneratorError(f"CLASS_RENAMES: {new} already exists")
            taken.add(new)
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")

        def sub(text: str) -> str:
            return pattern.sub(lambda match: renames[match.group(1)], text)

        self.models = {renames.get(name, name): model for name, model in self.models.items()}
        for model in self.models.values():
            model.name = renames.get(model.name, model.name)
            for f in model.fields:
                f.type_expr = sub(f.type_expr)
        self.order = [renames.get(name, name) for name in self.order]
        for op in self.operations:
            if op.request_model:
                op.request_model = renames.get(op.request_model, op.request_model)
            if op.response_model:
                op.response_model = renames.get(op.response_model, op.response_model)

    def name_all(self) -> None:
        """After ``run``: the curated names, the request extras, the roles, the scheme check."""
        self.apply_renames(CLASS_RENAMES)
        self.name_bodies()
        self.apply_extras()
        self.apply_field_renames()
        self.classify()
        self.check_names()

    def apply_field_renames(self) -> None:
        for name, (said, instead) in MISPLACED_DESCRIPTIONS.items():
            model = self.models.get(name)
            if model is None or not model.description.startswith(said):
                raise GeneratorError(f"MISPLACED_DESCRIPTIONS: {name} no longer says {said!r}")
            model.description = instead
        for (name, api_name), (said, instead) in MISPLACED_FIELD_DESCRIPTIONS.items():
            model = self.models.get(name)
            fields = [f for f in model.fields if f.api_name == api_name] if model else []
            if not fields or fields[0].description != said:
                raise GeneratorError(f"MISPLACED_FIELD_DESCRIPTIONS: {name}.{api_name} changed")
            fields[0].description = instead
        for (name, api_name), (py_name, _old) in FIELD_RENAMES.items():
            model = self.models.get(name)
            fields = [f for f in model.fields if f.api_name == api_name] if model else []
            if not fields:
                raise GeneratorError(f"FIELD_RENAMES: {name} has no field {api_name}")
            fields[0].py_name = py_name

    def name_bodies(self) -> None:
        """Name every request body by BODY_NAMES. A class that a POST and a PUT both send keeps
        the POST's name; the PUT's name becomes an alias (``aliases``: alias -> class)."""
        sent = {op.operation_id for op in self.operations if op.request_model}
        if set(BODY_NAMES) != sent:
            raise GeneratorError(
                f"BODY_NAMES: missing {sorted(sent - set(BODY_NAMES))}, "
                f"unknown {sorted(set(BODY_NAMES) - sent)}"
            )
        named: dict[str, str] = {}
        for op in sorted(self.operations, key=lambda op: op.method != "POST"):
            if not op.request_model:
                continue
            want = BODY_NAMES[op.operation_id]
            if not BODY_NAME_PATTERN.fullmatch(want):
                raise GeneratorError(f"BODY_NAMES: {want} does not follow the scheme")
            if op.request_model in named:
                self.aliases[want] = named[op.request_model]
            else:
                named[op.request_model] = want
        self.apply_renames({old: new for old, new in named.items() if old != new})
        self.aliases = {alias: named.get(cls, cls) for alias, cls in self.aliases.items()}
        clash = set(self.aliases) & set(self.models)
        if clash:
            raise GeneratorError(f"BODY_NAMES: aliases {sorted(clash)} are class names")

    def apply_extras(self) -> None:
        """Add EXTRA_REQUIRED, EXTRA_LIMITS and the live facts about request bodies to the
        request fields they name."""

        def field_of(class_name: str, api_name: str) -> FieldDef:
            model = self.models.get(class_name)
            found = [f for f in model.fields if f.api_name == api_name] if model else []
            if not found or model is None or model.role == RESPONSE:
                raise GeneratorError(f"EXTRA_*: no request field {class_name}.{api_name}")
            return found[0]

        for class_name, api_name in sorted(EXTRA_REQUIRED):
            field_of(class_name, api_name).required = True
        for (class_name, api_name), limits in EXTRA_LIMITS.items():
            field_of(class_name, api_name).limits.update(limits)
        # What live Karbon accepted beyond the spec (tools/live_facts.py).
        for class_name, fact in REQUEST_NULLS.items():
            for api_name in fact.fields:
                field_of(class_name, api_name).nullable = True
        for class_name, names in NUMERIC_STRINGS.items():
            for api_name in names:
                numeric = field_of(class_name, api_name)
                if numeric.type_expr != "int":
                    raise GeneratorError(f"NUMERIC_STRINGS: {class_name}.{api_name} is no int")
                numeric.numeric_string = True
        for class_name, (api_name, _source) in NOT_REQUIRED.items():
            field_of(class_name, api_name).required = False

    def check_names(self) -> None:
        """The naming scheme (see BODY_NAMES) holds for every class, and DEPRECATED_NAMES points
        old names at classes that exist."""
        bodies = {op.request_model for op in self.operations if op.request_model}
        for name in self.models:
            if name in bodies:
                continue
            if name in self.request_side and name not in self.shared:
                if not name.endswith("Input"):
                    raise GeneratorError(f"{name}: a request-only class must end in Input")
            elif re.search(r"Request|Input", name):
                raise GeneratorError(f"{name}: a response class has a request name")
        public = set(self.models) | set(self.aliases)
        for old, new in DEPRECATED_NAMES.items():
            if old in public or new not in public:
                raise GeneratorError(f"DEPRECATED_NAMES: {old} -> {new}")

    def classify(self) -> None:
        """Find the classes a request body can reach, and those also reached by responses."""

        def reach(roots: Iterable[str | None]) -> set[str]:
            seen: set[str] = set()
            stack = [root for root in roots if root]
            while stack:
                name = stack.pop()
                if name in seen or name not in self.models:
                    continue
                seen.add(name)
                for f in self.models[name].fields:
                    stack += re.findall(r"[A-Za-z_]\w*", f.type_expr)
            return seen

        self.request_side = reach(op.request_model for op in self.operations)
        self.shared = self.request_side & reach(op.response_model for op in self.operations)
        for name, key in RECORD_KEYS.items():
            model = self.models.get(name)
            if model is None or name in self.request_side:
                raise GeneratorError(f"RECORD_KEYS: {name} is not a response-only class")
            if key not in {f.api_name for f in model.fields}:
                raise GeneratorError(f"RECORD_KEYS: {name} has no field {key}")
        for name, keys in SECRET_FIELDS.items():
            model = self.models.get(name)
            missing = keys - ({f.api_name for f in model.fields} if model else set())
            if missing:
                raise GeneratorError(f"SECRET_FIELDS: {name} has no field {sorted(missing)}")

    def flattened_only(self) -> set[str]:
        """Components that only serve as allOf building blocks of other schemas."""
        used_as_branch: set[str] = set()
        for schema in self.schemas.values():
            for branch in schema.get("allOf", []) + schema.get("anyOf", []):
                name, _ = self.resolve(branch)
                if name:
                    used_as_branch.add(name)
        for path_item in self.spec["paths"].values():
            for method in HTTP_METHODS:
                op = path_item.get(method) or {}
                # A part of a request body is no response model (CreateClientGroup); parts of
                # response bodies are kept, users may know them.
                for media in ((op.get("requestBody") or {}).get("content") or {}).values():
                    schema = media.get("schema") or {}
                    for branch in schema.get("allOf", []) + schema.get("anyOf", []):
                        name, _ = self.resolve(branch)
                        if name:
                            used_as_branch.add(name)
        return used_as_branch


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render_field(gen: Generator, model: ModelDef, f: FieldDef) -> list[str]:
    """A request-side field defaults to UNSET (left out of the body) and admits None only where
    the spec allows null, or where responses share the class (they send nulls anyway; the
    encoder then refuses a None the spec does not allow). A response-only field defaults to None,
    except the record's key, which is required."""
    base = f.type_expr
    default: str | None
    if model.name in gen.request_side:
        if f.required:
            annotation = f"{base} | None" if f.nullable else base
            default = None
        else:
            may_be_none = f.nullable or model.name in gen.shared
            annotation = f"{base} | None | Unset" if may_be_none else f"{base} | Unset"
            default = "UNSET"
    elif RECORD_KEYS.get(model.name) == f.api_name:
        annotation, default = base, None
    else:
        annotation = f"{base} | None"
        default = "None"
    args: list[str] = []
    if default is not None:
        args.append(f"default={default}")
    if f.limits:
        limit_args = ", ".join(f"{k}={v!r}" for k, v in sorted(f.limits.items()))
        args.append(f"validator=_Limits({f.api_name!r}, {limit_args})")
    if f.api_name in SECRET_FIELDS.get(model.name, ()):
        args.append("repr=_hidden")
    if f.numeric_string:
        args.append("converter=_numeric_string")
    if derived_api_name(f.py_name) != f.api_name:
        call = f"api_field({f.api_name!r}{''.join(', ' + a for a in args)})"
    elif f.limits or "repr=_hidden" in args or f.numeric_string:
        call = f"attrs.field({', '.join(args)})"
    else:
        call = default or ""
    line = f"    {f.py_name}: {annotation}" + (f" = {call}" if call else "")
    out = [line]
    out += docstring(f.description, "    ")
    return out


VALIDATOR_SOURCE = '''
@attrs.frozen
class _Limits:
    """An attrs validator for the limits the API documents; ``None`` and UNSET always pass."""

    name: str
    min_length: int | None = None
    max_length: int | None = None
    item_max_length: int | None = None
    pattern: str | None = None
    prefix: str | None = None
    minimum: str | None = None
    exclusive_minimum: str | None = None
    maximum: str | None = None

    def __call__(self, _instance: Any, _attribute: Any, value: Any) -> None:
        if value is None or value is UNSET:
            return
        name = self.name
        if isinstance(value, str):
            if self.min_length is not None and len(value) < self.min_length:
                raise ValueError(f"{name} must be at least {self.min_length} characters")
            if self.max_length is not None and len(value) > self.max_length:
                raise ValueError(f"{name} must be at most {self.max_length} characters")
            if self.pattern is not None and re.search(self.pattern, value) is None:
                raise ValueError(f"{name} must match {self.pattern}")
            if self.prefix is not None and not value.startswith(self.prefix):
                raise ValueError(f"{name} must start with {self.prefix!r}")
        elif isinstance(value, list):
            limit = self.item_max_length
            if limit is not None and any(isinstance(v, str) and len(v) > limit for v in value):
                raise ValueError(f"{name} items must be at most {limit} characters")
        elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            number = Decimal(value)
            if not number.is_finite():  # NaN would raise InvalidOperation when compared
                raise ValueError(f"{name} must be a finite number, got {value}")
            if self.minimum is not None and number < Decimal(self.minimum):
                raise ValueError(f"{name} must be at least {self.minimum}")
            if self.exclusive_minimum is not None and number <= Decimal(self.exclusive_minimum):
                raise ValueError(f"{name} must be greater than {self.exclusive_minimum}")
            if self.maximum is not None and number > Decimal(self.maximum):
                raise ValueError(f"{name} must be at most {self.maximum}")


def _numeric_string(value: int | str | Unset | None) -> int | Unset | None:
    """An integer field that live Karbon also accepts as a numeric string ("11"): the string
    becomes the integer it spells, which is what is sent. Any other value is kept as given, for
    the request check to refuse with the field's name."""
    if isinstance(value, str) and re.fullmatch("[0-9]+", value):
        return int(value)
    return value  # type: ignore[return-value]  # refused, naming the field, before sending


def _hidden(value: Any) -> str:
    """The repr of a secret field: whether it is set, never what it is."""
    return repr(value) if value is None or value is UNSET else "<hidden>"
'''


def _listed(items: list[str], limit: int = 4) -> str:
    shown = items[:limit] + ([f"{len(items) - limit} more"] if len(items) > limit else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def model_docstring(gen: Generator, name: str) -> str:
    """A class's docstring, made for this class: the spec's description (or, where that one
    describes another schema, MISPLACED_DESCRIPTIONS's), then where the class is met: the
    operations answering it or taking it as their body, and the fields holding it."""
    model = gen.models[name]
    answers: list[str] = []
    items: list[str] = []
    bodies: list[str] = []
    holders: list[str] = []
    for op in gen.operations:
        where = f"``{op.operation_id}`` ({op.method} {op.path})"
        if op.response_model == name:
            (items if op.list_key else answers).append(where)
        if op.request_model == name or gen.aliases.get(op.request_model or "") == name:
            bodies.append(where)
    for parent in sorted(gen.order):
        for f in gen.models[parent].fields:
            if re.search(rf"\b{re.escape(name)}\b", f.type_expr):
                holders.append(f"``{parent}.{f.py_name}``")
    sentences = [model.description] if model.description else []
    if answers:
        verb = "answers" if len(answers) == 1 else "answer"
        sentences.append(f"What {_listed(answers)} {verb}.")
    if items:
        verb = "gives" if len(items) == 1 else "give"
        sentences.append(f"One item of the list {_listed(items)} {verb}.")
    if bodies:
        sentences.append(f"The body of {_listed(bodies)}.")
    if holders:
        sentences.append(f"Held in {_listed(holders)}.")
    return " ".join(sentences) or f"{name}."


def render_models(gen: Generator) -> str:
    lines = [
        HEADER.rstrip(),
        "# ruff: noqa: RUF001, RUF009",
        '"""Models and enums of the Karbon API v3, generated from its OpenAPI document.',
        "",
        "Response models accept anything the API sends: every field is optional (None when absent)",
        "except the record's key. Models a request body can contain mark the documented required",
        "fields, check the documented limits and default every other field to ``UNSET``, so only",
        "the fields you set are sent, at any depth.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import datetime",
        "import re",
        "import warnings",
        "from decimal import Decimal",
        "from typing import Any, ClassVar",
        "",
        "import attrs",
        "",
        "from .._model_base import UNSET, KarbonEnum, KarbonModel, Unset, api_field, spellings",
        "",
        "",
        *VALIDATOR_SOURCE.splitlines(),
    ]
    for enum in sorted((e for e in gen.enums.values() if e.used), key=lambda e: e.name):
        lines += ["", ""]
        others = {
            v: ENUM_SPELLINGS[key] for v in enum.values if (key := (enum.name, v)) in ENUM_SPELLINGS
        }
        if others:
            lines.append(f"@spellings({others!r})")
        lines.append(f"class {enum.name}(KarbonEnum):")
        lines += docstring(enum.description, "    ")
        lines.append("")
        for value in enum.values:
            lines.append(f"    {member_name(value)} = {value!r}")
    for name in sorted(gen.order):
        model = gen.models[name]
        lines += ["", "", "@attrs.frozen(kw_only=True)", f"class {name}(KarbonModel):"]
        doc = model_docstring(gen, name)
        role_note = ""
        if name in gen.request_side:
            role_note = " Request form: only the fields you set are sent; limits are checked."
        lines += docstring(doc + role_note, "    ")
        if model.fields:
            lines.append("")
        not_null = sorted(f.api_name for f in model.fields if not f.nullable)
        if name in gen.request_side and not_null:
            lines.append("    _karbon_not_null: ClassVar[frozenset[str]] = frozenset(")
            lines += [f"        {{{', '.join(repr(k) for k in not_null)}}}", "    )"]
        for f in model.fields:
            lines += render_field(gen, model, f)
        for f in model.fields:
            renamed = FIELD_RENAMES.get((name, f.api_name))
            if renamed is not None:
                new, old = renamed
                lines += [
                    "",
                    "    @property",
                    f"    def {old}(self) -> {f.type_expr}:",
                    f'        """Deprecated: ``{new}``."""',
                    "        warnings.warn(",
                    f'            "{name}.{old} is deprecated; use {name}.{new}",',
                    "            DeprecationWarning,",
                    "            stacklevel=2,",
                    "        )",
                    f"        return self.{new}",
                ]
    if gen.aliases:
        lines += ["", "", "# One schema serves these requests too (see BODY_NAMES)."]
        lines += [f"{alias} = {cls}" for alias, cls in sorted(gen.aliases.items())]
    return "\n".join(lines) + "\n"


DEPRECATION_SOURCE = """

def __getattr__(name: str) -> Any:
    new = _DEPRECATED_NAMES.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"karbon_async.models.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=2
    )
    return globals()[new]
"""


def render_public(gen: Generator) -> str:
    names = sorted(
        [e.name for e in gen.enums.values() if e.used] + list(gen.order) + list(gen.aliases)
    )
    lines = [
        HEADER.rstrip(),
        '"""The Karbon API models and enums.',
        "",
        "Records are plain nouns (``Contact``), list items ``<Noun>Summary``. Request bodies",
        "are ``<Verb><Noun>Request`` (``CreateContactRequest``; ``ReplaceContactRequest`` for the",
        "PUT; ``PatchContactRequest``); models only a request contains are ``<Noun>Input``.",
        "Response models: every field optional except the record key. Request models (and every",
        "model a request body contains): required fields have no default, the others default to",
        "``UNSET`` and only the ones you set are sent. The names used before this scheme still",
        "resolve, with a DeprecationWarning.",
        '"""',
        "",
        "import warnings",
        "from typing import Any",
        "",
        "from karbon_async._generated.models import (",
        *[f"    {name}," for name in names],
        ")",
        "",
        "__all__ = [",
        *[f"    {name!r}," for name in names],
        "]",
        "",
        "# old name -> new name",
        "_DEPRECATED_NAMES = {",
        *[f"    {old!r}: {new!r}," for old, new in sorted(DEPRECATED_NAMES.items())],
        "}",
    ]
    return "\n".join(lines).replace("'", '"') + DEPRECATION_SOURCE


INIT = f'''{HEADER}"""Generated from the Karbon OpenAPI document: models, enums, operations."""

from ._spec_types import FilterRule, OperationSpec
from .operations import OPERATIONS

__all__ = ["OPERATIONS", "FilterRule", "OperationSpec"]
'''


def write_all(gen: Generator) -> list[Path]:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    files = {
        OUT_DIR / "models.py": render_models(gen),
        OUT_DIR / "operations.py": render_operations(gen),
        OUT_DIR / "__init__.py": INIT,
        PUBLIC_MODULE: render_public(gen),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)


def ruff_format(paths: Iterable[Path]) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    files = [str(path) for path in paths]
    subprocess.run([*command, "format", "--quiet", *files], check=True, cwd=ROOT)
    subprocess.run([*command, "check", "--fix", "--quiet", *files], check=True, cwd=ROOT)
    subprocess.run([*command, "format", "--quiet", *files], check=True, cwd=ROOT)


def iter_warnings(gen: Generator) -> Iterator[str]:
    yield from gen.warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="path to KarbonAPI.json")
    args = parser.parse_args(argv)
    spec = with_documented_fields(json.loads(args.spec.read_text(encoding="utf-8")))
    gen = Generator(spec)
    gen.enums.update({name: EnumDef(name, vals, doc) for name, vals, doc in DOCUMENTED_ENUMS})
    gen.run()
    gen.name_all()
    paths = write_all(gen)
    paths.append(write_contract(gen, EXTRA_REQUIRED, EXTRA_LIMITS))
    ruff_format(paths)
    for warning in iter_warnings(gen):
        print(f"warning: {warning}", file=sys.stderr)
    enums = sum(1 for e in gen.enums.values() if e.used)
    print(f"{len(gen.order)} models, {enums} enums, {len(gen.operations)} operations")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
