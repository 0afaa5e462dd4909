"""What the live Karbon API does where the OpenAPI document is silent or wrong: the fake's one
table of such behaviours, each row with its source.

What the SDK also needs (allowed ``$filter`` fields, operators and functions, ``$expand`` names,
``$orderby`` fields, ``$top`` limits, which PATCHes honour ``Prefer``) is NOT restated here: the
fake reads it from the generated operation table (``karbon_async._generated.operations``, built
from the spec plus ``tools/live_facts.py``). This module holds only what the fake alone needs:
the constants its handlers use, and one :class:`LiveBehaviour` row per behaviour with an example
request and the live answer, which the tests replay against the fake.

Sources: "Postman #n" is row n of the facts extracted from Karbon's public integration suite
(``public-api/integration-tests/postman-collection.json`` in karbonhq/karbon-api-reference);
"Postman 'name' @commit" names one request of that suite by its name and the commit (of that
repository, date in brackets) whose version asserted the answer; "FACTS §x" a section of the API
digest (guides, release notes, spec); "issue 9/10" the project's issues quoting live answers.

How the suite's history was read: every distinct request of all 359 versions (2021-08-29 to
2022-10-26) was replayed against this fake; a status the suite asserted counts as live evidence
when the newest version of the request still asserts it. Superseded assertions are not rows:
500s a later version asserts away (``$orderby=LastModifiedDateTime``, ``$expand=TimeEntries``,
WorkTemplates ``Title eq``), one-day drafts (an unterminated ``'Payroll`` filter, a schedule
``ScheduleEndDate: "Forever"`` with hard-coded keys), and keys or emails of Karbon's own test
account. Where the suite and a newer source disagree, the newer wins and the row says so
(``create-status-follows-spec``, ``patch-workitem-worktype``, ``webhook-contentitem-retired``).

A row's ``status`` is 2xx for a live acceptance (the fake must accept the example, also where
the spec forbids it) and 4xx for a live refusal. The allowances the spec does not grant are
switched off by ``FakeKarbon(spec_pedantic=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ACCOUNTING_INTEGERS",
    "BEHAVIOURS",
    "EXTRA_ENUM_VALUES",
    "FILTER_COMBINATORS",
    "FREE_TEXT_ENUMS",
    "SYSTEM_USER_EMAIL",
    "SYSTEM_USER_NAME",
    "UDI_NAMESPACE",
    "Example",
    "LiveBehaviour",
    "patch_only_message",
]


SYSTEM_USER_EMAIL = "system@karbonhq.com"
"""Accepted as a note's author and assignee and as a work item's assignee though no user of the
account has it (Postman #118)."""

SYSTEM_USER_NAME = "Karbon System"

UDI_NAMESPACE = "KarbonService."
"""The live suite calls the UDI functions namespace-qualified (``Contacts/KarbonService.
GetContactByUserDefinedIdentifier(...)``), the spec and guides unqualified; both are served."""

FILTER_COMBINATORS = frozenset({"and", "or", "not"})
"""Accepted on every list. Only ``and`` is documented (FACTS §2.2 lists "eq, contains, and"), but
no live evidence shows ``or``/``not`` refused, and the SDK's ``F`` builds them: refusing them here
would fail user code the real API may serve. Revisit with live evidence."""

ACCOUNTING_INTEGERS = ("FinancialYearEndDay", "FinancialYearEndMonth")
"""The ``[integer, null]`` properties of the spec's DetailsOfAccounting: sent as numeric strings
("11") they are accepted and answered as integers (Postman #45, #50)."""


FREE_TEXT_ENUMS = frozenset(
    {"Addresses.Label", "PhoneNumbers.Label", "AccountingDetail.Salutation"}
)
"""Enum-typed in the spec (Physical/Mailing/Legal/Home; Work/Mobile/Office/Fax/Home/Other;
Mr/Mrs/...), free text live: made-up labels and salutations were accepted on every card and
contact write of the suite (rows ``label-free-text-*``, ``accounting-values-beyond-spec``). Keyed
by the last two names of the property's path."""

EXTRA_ENUM_VALUES: Mapping[str, frozenset[str]] = {
    "Notes.Type": frozenset({"Related People", "RelatedPeople"}),
    "AccountingDetail.GstBasis": frozenset({"Invoice"}),
}
"""Values live accepted beyond the spec's enum (row ``accounting-values-beyond-spec``): an
accounting note of type "Related People" (and "RelatedPeople", sent back as a GET gave it) on a
contact, the GST basis "Invoice" on an organization."""


def patch_only_message(fields: tuple[str, ...]) -> str:
    """The PATCH refusal: fields joined by "," without a space, ending with a period (Postman
    #27, #43, #66, #92; the spec's example lacks the period)."""
    return f"Invalid property to update. Only {','.join(fields)} can be patched."


@attrs.frozen
class Example:
    """One request of a behaviour. In ``path`` (after ``/v3/``), query values and string body
    values, ``{Contacts}`` stands for the key of a collection's first record, ``{udi:Contacts}``
    for its UserDefinedIdentifier and ``{user}`` for the first user's email address."""

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    body: Any = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    expect: Mapping[str, Any] = attrs.field(factory=dict)
    """Values the answer must carry, by dotted path (``AccountingDetail.FinancialYearEndDay``)."""


@attrs.frozen
class LiveBehaviour:
    """One live behaviour: the answer (``status``, and ``message``, a verbatim substring of the
    error message, where there is one) to each of its ``examples``. A row without examples
    needs several requests; a named test in ``tests/testing/test_live_behaviours.py`` covers it."""

    id: str
    what: str
    status: int
    message: str | None
    source: str
    examples: tuple[Example, ...] = ()
    code: str = "4002"
    """The error code that goes with ``message``."""
    beyond_spec: bool = False
    """The spec forbids the examples (live accepted them): ``spec_pedantic`` refuses each."""


def _get(path: str, **query: str) -> Example:
    return Example("GET", path, {f"${k}": v for k, v in query.items()})


_PREFER = {"Prefer": "return=representation"}
_PM = "Postman "
_LAST = "@890cb0bfed (2022-10-26, the suite's newest version)"


def _card(*, label: str = "Physical", phone: str = "Work") -> dict[str, Any]:
    return {
        "IsPrimaryCard": True,
        "Addresses": [
            {"AddressLines": "1 Free St", "City": "Hobart", "CountryCode": "AU", "Label": label}
        ],
        "PhoneNumbers": [{"Number": "0400 000 000", "CountryCode": "AU", "Label": phone}],
    }


def _named_contact(card: dict[str, Any]) -> dict[str, Any]:
    return {"FirstName": "Ada", "LastName": "King", "BusinessCards": [card]}


def _work_item() -> dict[str, Any]:
    return {
        "AssigneeEmailAddress": "{user}",
        "Title": "T",
        "ClientKey": "{Contacts}",
        "ClientType": "Contact",
        "StartDate": "2021-05-14T00:00:00+10:00",
    }


def _schedule() -> dict[str, Any]:
    return {
        "CreatedFromWorkItemKey": "{WorkItems}",
        "RecurrenceFrequency": "Month",
        "CustomFrequencyMultiple": 1,
        "ScheduleStartDate": "2021-07-01",
        "ScheduleDueDateMethod": "DaysFromStartDate",
        "ScheduleDueDateDays": 7,
        "PreventStartEndOnWeekend": True,
        "InitializeTasksBeforeStartDateUnits": "Days",
        "InitializeTasksBeforeStartDateMultiple": 2,
        "WorkItemTitleDefinition": '[{"Text":"Monthly close","Variable":null,"Format":null,'
        '"Offset":0}]',
    }


_NOT_ALLOWED = "is not allowed. To allow it, set the"


BEHAVIOURS: tuple[LiveBehaviour, ...] = (
    # ---------------------------------------------------------------- query options
    LiveBehaviour(
        "select-refused-everywhere",
        "$select on any GET, list or single",
        400,
        f"Query option 'Select' {_NOT_ALLOWED} 'AllowedQueryOptions' property",
        "Postman #8, #12, #18, #29, #38, #48, #56, #75, #94, #99, #108; Postman facts §2.3 "
        "Postman facts ('rejected everywhere')",
        (
            _get("Users", select="FullName"),
            _get("Contacts", select="FullName"),
            _get("Contacts/{Contacts}", select="FullName"),
            _get("ClientGroups/{ClientGroups}", select="FullName"),
            _get("Organizations/{Organizations}", select="FullName"),
            _get("WorkItems", select="AssigneeEmailAddress"),
            _get("WorkSchedules/{WorkSchedules}", select="FrequencyDescription"),
            _get("WorkTemplates", select="Title"),
            _get("Timesheets", select="Status"),
        ),
    ),
    LiveBehaviour(
        "expand-refused",
        "$expand where the operation takes none (its query parameters lack $expand)",
        400,
        "Query option 'Expand' is not allowed",
        "Postman #95, #100; tools/live_facts.py EXPAND rows",
        (
            _get("WorkTemplates", expand="Title"),
            _get("WorkSchedules/{WorkSchedules}", expand="ClientType"),
            _get("Contacts", expand="BusinessCards"),
        ),
    ),
    LiveBehaviour(
        "expand-unknown-name",
        "$expand of a name the operation does not list: no singular/plural leniency",
        400,
        "Could not find a property named",
        "FACTS.md §2.2 (Contacts/Organizations take BusinessCards, ClientGroups the singular "
        "BusinessCard); standard ASP.NET OData answer for an unknown navigation property",
        (
            _get("Contacts/{Contacts}", expand="BusinessCard"),
            _get("ClientGroups/{ClientGroups}", expand="BusinessCards"),
            _get("Organizations/{Organizations}", expand="Nope"),
        ),
    ),
    LiveBehaviour(
        "expand-names",
        "$expand names each entity takes, as the operation table lists them",
        200,
        None,
        "Postman #15, #17, #31, #32, #34, #49, #52, #112",
        (
            _get("ClientGroups/{ClientGroups}", expand="BusinessCard"),
            _get("Organizations/{Organizations}", expand="BusinessCards,Contacts"),
            _get("Contacts/{Contacts}", expand="BusinessCards"),
            _get("Timesheets", expand="TimeEntries"),
        ),
    ),
    LiveBehaviour(
        "ne-refused",
        "ne, on every list (no list's filter facts allow it)",
        400,
        f"Logical operator 'NotEqual' {_NOT_ALLOWED} 'AllowedLogicalOperators' property",
        "Postman #41, #59; issue 9",
        (
            _get("Contacts", filter="PhoneNumber ne '10'"),
            _get("Organizations", filter="FullName ne 'test'"),
        ),
    ),
    LiveBehaviour(
        "startswith-refused",
        "startswith() where the filter facts do not list it",
        400,
        f"Function 'startswith' {_NOT_ALLOWED} 'AllowedFunctions' property",
        "Postman #23, #39, #57, #86; issue 9",
        (
            _get("ClientGroups", filter="startswith(FullName, 'A') eq true"),
            _get("Organizations", filter="startswith(FullName, 'test')"),
            _get("Contacts", filter="startswith(EmailAddress, 'james')"),
            _get("WorkItems", filter="startswith(AssigneeEmailAddress,'test')"),
        ),
    ),
    LiveBehaviour(
        "startswith-worktemplates",
        "startswith() on WorkTemplates",
        200,
        None,
        "Postman #101; issue 9",
        (
            _get("WorkTemplates", filter="startswith(Title, 'Payroll')"),
            _get("WorkTemplates", filter="startswith(Title,'test')"),
        ),
    ),
    LiveBehaviour(
        "day-refused",
        "day()/month()/year() outside Timesheets",
        400,
        "Function 'day' is not allowed",
        "Postman #24, #40, #58, #85, #106; issue 9",
        (
            _get("ClientGroups", filter="day(LastModifiedDateTime) eq 8"),
            _get("Organizations", filter="day(LastModifiedDateTime) eq 8"),
            _get("Contacts", filter="day(LastModifiedDateTime) eq 8"),
            _get("WorkItems", filter="day(StartDate) eq 8"),
            _get("WorkTemplates", filter="day(PublishedDate) eq 4"),
        ),
    ),
    LiveBehaviour(
        "date-parts-timesheets",
        "day()/month()/year() on Timesheets (UTC components)",
        200,
        None,
        "Postman #116 (allowed since 2021-12); issue 9",
        (
            _get("Timesheets", filter="day(StartDate) eq 8"),
            _get("Timesheets", filter="month(EndDate) eq 7 and year(StartDate) eq 2022"),
        ),
    ),
    LiveBehaviour(
        "filter-unknown-property",
        "a $filter field the list's filter facts do not name (also one the list item has: "
        "judged after operators and functions)",
        400,
        "Could not find a property named",
        "spec 4002 example ('Could not find a property named ... SummaryDTO'); FACTS.md §1.1",
        (
            Example(
                "GET",
                "Contacts",
                {"$filter": "Nope eq 'x'"},
                expect={
                    "error.message": "Could not find a property named 'Nope' on type "
                    "'KarbonService.ContactSummaryDTO'."
                },
            ),
            _get("Contacts", filter="LastModifiedDateTime eq 2024-01-01"),
            _get("WorkItems", filter="ClientName eq 'x'"),
        ),
    ),
    LiveBehaviour(
        "orderby-refused",
        "$orderby on a field the API does not sort by",
        400,
        "cannot be used in the $orderby query option.",
        "Postman #105 and 'Search orderby EstimatedTime' (status); spec 4002 example (text)",
        (
            Example(
                "GET",
                "WorkTemplates",
                {"$orderby": "EstimatedBudget", "$top": "10"},
                expect={
                    "error.message": "The property 'EstimatedBudget' cannot be used in the "
                    "$orderby query option."
                },
            ),
            Example(
                "GET",
                "WorkTemplates",
                {"$orderby": "EstimatedTime", "$top": "10"},
                expect={
                    "error.message": "The property 'EstimatedTime' cannot be used in the "
                    "$orderby query option."
                },
            ),
        ),
    ),
    LiveBehaviour(
        "orderby-accepted",
        "$orderby on the fields the operation table lists",
        200,
        None,
        "Postman #21, #37, #54, #84, #103, #104, #111",
        (
            _get("WorkTemplates", orderby="WorkTypeKey", top="10"),
            _get("WorkTemplates", orderby="DateModified", top="10"),
            _get("Contacts", orderby="LastModifiedDateTime", top="5"),
            _get("Organizations", orderby="LastModifiedDateTime", top="5"),
            _get("ClientGroups", orderby="FullName", top="5"),
            _get("Timesheets", orderby="EndDate", top="5"),
            _get("Timesheets", orderby="StartDate", top="5"),
            _get("Contacts", orderby="FullName", top="5"),
            _get("Organizations", orderby="FullName", top="5"),
            _get("WorkItems", orderby="StartDate", top="5"),
            _get("WorkTemplates", orderby="PublishedDate", top="10"),
            _get("WorkTemplates", orderby="NumberOfWorkItemsCreated", top="10"),
            _get("WorkTemplates", orderby="DateLastWorkItemCreated", top="10"),
            _get("Users", top="5"),
        ),
    ),
    LiveBehaviour(
        "top-over-limit",
        "$top above the list's limit (100; WorkTemplates 10)",
        400,
        "for Top query has been exceeded. The value from the incoming request is",
        "spec 4002 examples; FACTS.md §1.1, §8.1",
        (
            Example(
                "GET",
                "Contacts",
                {"$top": "130"},
                expect={
                    "error.message": "The limit of '100' for Top query has been exceeded. "
                    "The value from the incoming request is '130'."
                },
            ),
            Example(
                "GET",
                "WorkTemplates",
                {"$top": "11"},
                expect={
                    "error.message": "The limit of '10' for Top query has been exceeded. "
                    "The value from the incoming request is '11'."
                },
            ),
        ),
    ),
    LiveBehaviour(
        "options-before-key",
        "a bad query option is a 400 even for a key that does not exist",
        400,
        "is not allowed",
        "Postman #12, #94, #95 (hard-coded keys answer 400), #76 (404 without options)",
        (
            _get("ClientGroups/3S2qmFq6pL2y", select="FullName"),
            _get("WorkSchedules/2Tlgtl5sjmNL", expand="ClientType"),
            _get("WorkItems/NOPE12345678", expand="Anything"),
        ),
    ),
    LiveBehaviour(
        "put-ignores-query-options",
        "PUT with $expand in the query: not validated",
        204,
        None,
        "Postman #25, #64",
        (
            Example(
                "PUT",
                "Contacts/{Contacts}",
                {"$expand": "BusinessCard"},
                {"FirstName": "Ada", "LastName": "King"},
            ),
            Example(
                "PUT", "ClientGroups/{ClientGroups}", {"$expand": "BusinessCard"}, {"FullName": "G"}
            ),
        ),
    ),
    LiveBehaviour(
        "udi-namespace-qualified",
        "the UDI functions called namespace-qualified, like the plain form",
        200,
        None,
        "Postman #16, #17, #33, #34, #51, #52",
        (
            Example(
                "GET",
                "Contacts/KarbonService.GetContactByUserDefinedIdentifier"
                "(UserDefinedIdentifier='{udi:Contacts}')",
                {"$expand": "BusinessCards"},
                expect={"ContactKey": "{Contacts}"},
            ),
            Example(
                "GET",
                "Organizations/KarbonService.GetOrganizationByUserDefinedIdentifier"
                "(UserDefinedIdentifier='{udi:Organizations}')",
                expect={"OrganizationKey": "{Organizations}"},
            ),
            Example(
                "GET",
                "ClientGroups/KarbonService.GetClientGroupByUserDefinedIdentifier"
                "(UserDefinedIdentifier='{udi:ClientGroups}')",
                {"$expand": "BusinessCard"},
                expect={"ClientGroupKey": "{ClientGroups}"},
            ),
        ),
    ),
    # ---------------------------------------------------------------- writes
    LiveBehaviour(
        "patch-only-message",
        "PATCH of a field outside the patchable set (the fake keeps its sets: FACTS.md §2.10 "
        "and the 2026-06-11 release note; the live format of the message)",
        400,
        "can be patched.",
        "Postman #27, #43, #66, #92",
        (
            Example(
                "PATCH",
                "Contacts/{Contacts}",
                body={"UserDefinedIdentifier": "X"},
                headers=_PREFER,
                expect={
                    "error.message": "Invalid property to update. Only FirstName,MiddleName,"
                    "LastName,PreferredName,Salutation,Suffix can be patched."
                },
            ),
            Example(
                "PATCH",
                "Organizations/{Organizations}",
                body={"UserDefinedIdentifier": "X"},
                headers=_PREFER,
                expect={
                    "error.message": "Invalid property to update. Only FullName can be patched."
                },
            ),
            Example(
                "PATCH",
                "ClientGroups/{ClientGroups}",
                body={"ContactType": "Organisation"},
                headers=_PREFER,
                expect={
                    "error.message": "Invalid property to update. Only FullName can be patched."
                },
            ),
            Example("PATCH", "WorkItems/{WorkItems}", body={"ClientKey": "X"}, headers=_PREFER),
        ),
    ),
    LiveBehaviour(
        "patch-prefer-representation",
        "PATCH with Prefer: return=representation answers 200 with the record",
        200,
        None,
        "Postman #26, #44, #65, #91; tools/live_facts.py PREFER_REPRESENTATION",
        (
            Example(
                "PATCH",
                "Contacts/{Contacts}",
                body={"FirstName": "Partial First Name", "Suffix": "Partial Suffix"},
                headers=_PREFER,
                expect={"FirstName": "Partial First Name", "Suffix": "Partial Suffix"},
            ),
            Example(
                "PATCH",
                "Organizations/{Organizations}",
                body={"FullName": "Partial Updated Organisation Name"},
                headers=_PREFER,
                expect={"FullName": "Partial Updated Organisation Name"},
            ),
            Example(
                "PATCH",
                "ClientGroups/{ClientGroups}",
                body={"FullName": "Partial updated client group full name"},
                headers=_PREFER,
                expect={"FullName": "Partial updated client group full name"},
            ),
            Example(
                "PATCH",
                "WorkItems/{WorkItems}",
                body={"Description": "Test Partial Update Description"},
                headers=_PREFER,
                expect={"Description": "Test Partial Update Description"},
            ),
        ),
    ),
    LiveBehaviour(
        "create-status-follows-spec",
        "POST ClientGroups and Users answer 200 as the spec documents; the 2021-22 suite saw "
        "201. The spec is the newer source (200 in every version from 2022-08-11 to "
        "2026-08-18), so the fake answers 200 (its handlers read the operation table's "
        "success_status); the SDK accepts both (success_statuses, tools/live_facts.py "
        "EXTRA_SUCCESS). The other creates answer 201 in both sources",
        200,
        None,
        "FACTS.md §7 and KarbonAPI.json @79a6e3d (2026-08-18: 200) vs Postman #1, #10 and "
        f"{_PM}'Create Client Group', 'Create User V3' {_LAST} (201); issue 10",
        (
            Example("POST", "ClientGroups", body={"FullName": "The Xs"}),
            Example("POST", "Users", body={"Name": "New Person", "EmailAddress": "np@x.example"}),
        ),
    ),
    LiveBehaviour(
        "accounting-numeric-strings",
        "AccountingDetail integers sent as numeric strings come back as integers",
        201,
        None,
        "Postman #45, #50, #64",
        (
            Example(
                "POST",
                "Contacts",
                body={
                    "FirstName": "Ada",
                    "LastName": "King",
                    "AccountingDetail": {
                        "FinancialYearEndDay": "11",
                        "FinancialYearEndMonth": "0",
                    },
                },
                expect={
                    "AccountingDetail.FinancialYearEndDay": 11,
                    "AccountingDetail.FinancialYearEndMonth": 0,
                },
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "system-user",
        "system@karbonhq.com is accepted as note author and assignee, and as work assignee",
        201,
        None,
        "Postman #118",
        (
            Example(
                "POST",
                "Notes",
                body={
                    "Subject": "S",
                    "Body": "B",
                    "AuthorEmailAddress": SYSTEM_USER_EMAIL,
                    "AssigneeEmailAddress": SYSTEM_USER_EMAIL,
                },
                expect={"AuthorEmailAddress": SYSTEM_USER_EMAIL},
            ),
            Example(
                "POST",
                "WorkItems",
                body={
                    "AssigneeEmailAddress": SYSTEM_USER_EMAIL,
                    "Title": "T",
                    "ClientKey": "{Contacts}",
                    "ClientType": "Contact",
                    "StartDate": "2021-07-11",
                },
                expect={"AssigneeEmailAddress": SYSTEM_USER_EMAIL},
            ),
        ),
    ),
    LiveBehaviour(
        "work-type-from-template",
        "a work item created from a template without WorkType takes the template's; an "
        "explicit WorkType wins",
        201,
        None,
        "Postman #70, #73 (#8165)",
    ),
    LiveBehaviour(
        "business-card-entry-keys",
        "card addresses carry AddressKey and phone numbers PhoneNumberKey (GUIDs); a PUT "
        "that sends them back keeps them, new entries get fresh keys",
        204,
        None,
        "Postman #68; Postman facts §2.7",
    ),
    # ---------------------------------------------------------------- live over spec: bodies
    LiveBehaviour(
        "label-free-text-create",
        "address and phone Labels outside the spec's enums, on a create",
        201,
        None,
        f"{_PM}'#4350 Create Contact with extra CRM Fields' and '#4350 Create Organization with "
        f"CRM Fields' {_LAST} (address Label free text; the spec's enum: Physical, Mailing, "
        "Legal, Home)",
        (
            Example("POST", "Contacts", body=_named_contact(_card(label="Head office"))),
            Example(
                "POST",
                "Organizations",
                body={"FullName": "Free Label Pty", "BusinessCards": [_card(label="Depot")]},
                expect={"OrganizationKey": "{any}"},
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "label-free-text-replace",
        "address and phone Labels outside the spec's enums, on a PUT of a card, a contact or a "
        "client group",
        204,
        None,
        f"{_PM}'Update Business Card', 'Update Client Group Business Card', '#4350 Update "
        f"Contact with extra CRM Fields', '#4350 Update Client Group with CRM Fields' {_LAST} "
        "(phone Label free text; the spec's enum: Work, Mobile, Office, Fax, Home, Other)",
        (
            Example("PUT", "Contacts/{Contacts}", body=_named_contact(_card(phone="After hours"))),
            Example(
                "PUT",
                "ClientGroups/{ClientGroups}",
                body={"FullName": "G", "BusinessCard": _card(label="Annex", phone="Reception")},
            ),
            Example(
                "PUT",
                "BusinessCards/{card:Contacts}",
                body={
                    "BusinessCardKey": "{card:Contacts}",
                    "EntityType": "Contact",
                    "EntityKey": "{Contacts}",
                    "IsPrimaryCard": True,
                    **_card(label="Warehouse", phone="Night line"),
                },
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "accounting-values-beyond-spec",
        "AccountingDetail values outside the spec's enums: a free-text Salutation, a note of "
        "Type 'Related People', the GstBasis 'Invoice'",
        201,
        None,
        f"{_PM}'#4350 Create Contact with extra CRM Fields', 'Create Contact without notes or "
        f"registration numbers', '#4350 Create Organization with CRM Fields' {_LAST}; "
        "'#4350 Update Contact with extra CRM Fields' @d53edb9694 (2022-08-18: a GET's "
        "'RelatedPeople' sent back, 204)",
        (
            Example(
                "POST",
                "Contacts",
                body={
                    "FirstName": "Ada",
                    "LastName": "King",
                    "AccountingDetail": {
                        "Salutation": "The Honourable",
                        "Notes": [
                            {"Body": "Sister is a director", "Type": "Related People"},
                            {"Body": "Uncle holds shares", "Type": "RelatedPeople"},
                        ],
                    },
                },
            ),
            Example(
                "POST",
                "Organizations",
                body={"FullName": "Invoice Basis Pty", "AccountingDetail": {"GstBasis": "Invoice"}},
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "optional-null-replace",
        "explicit null for properties the body does not require, on a PUT (treated as omitted)",
        204,
        None,
        f"{_PM}'#5170 Update WorkItem' (WorkTemplateKey, WorkScheduleKey) and '#5170 Update Work "
        f"Schedule' (ScheduleDueDateMonthMultiple) {_LAST}; '#4350 Update Contact with extra "
        "CRM Fields' @e61ddb9e07 (2022-08-26: ClientOwner, ClientManager); '#4350 Update "
        "Organization with CRM Fields' @558bbc38e8 (2022-05-24: ContactType); 'Update "
        f"Organization Business Card' {_LAST} (OrganizationKey, RoleOrTitle)",
        (
            Example(
                "PUT",
                "WorkItems/{WorkItems}",
                body={**_work_item(), "WorkTemplateKey": None, "WorkScheduleKey": None},
            ),
            Example(
                "PUT",
                "WorkSchedules/{WorkSchedules}",
                body={
                    **_schedule(),
                    "WorkScheduleKey": "{WorkSchedules}",
                    "ScheduleDueDateMonthMultiple": None,
                },
            ),
            Example(
                "PUT",
                "Contacts/{Contacts}",
                body={
                    "FirstName": "Ada",
                    "LastName": "King",
                    "ClientOwner": None,
                    "ClientManager": None,
                    "ContactType": None,
                },
            ),
            Example(
                "PUT", "Organizations/{Organizations}", body={"FullName": "O", "ContactType": None}
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "card-null-entries",
        "a card PUT with null OrganizationKey and RoleOrTitle (the spec allows both)",
        204,
        None,
        f"{_PM}'Update Organization Business Card' {_LAST}",
        (
            Example(
                "PUT",
                "BusinessCards/{card:Organizations}",
                body={
                    "BusinessCardKey": "{card:Organizations}",
                    "EntityType": "Organization",
                    "EntityKey": "{Organizations}",
                    "IsPrimaryCard": True,
                    "OrganizationKey": None,
                    "RoleOrTitle": None,
                },
            ),
        ),
    ),
    LiveBehaviour(
        "optional-null-create",
        "explicit null for a property the body does not require, on a create",
        201,
        None,
        f"{_PM}'#5170 Create WorkSchedule from work item' {_LAST} (ScheduleDueDateMonthMultiple)",
        (
            Example(
                "POST",
                "WorkSchedules",
                body={**_schedule(), "ScheduleDueDateMonthMultiple": None},
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "accounting-numeric-strings-replace",
        "AccountingDetail integers as numeric strings on a PUT",
        204,
        None,
        f"{_PM}'#4350 Update Contact with extra CRM Fields' {_LAST}",
        (
            Example(
                "PUT",
                "Contacts/{Contacts}",
                body={
                    "FirstName": "Ada",
                    "LastName": "King",
                    "AccountingDetail": {"FinancialYearEndDay": "30", "FinancialYearEndMonth": "6"},
                },
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "dates-and-extra-properties",
        "a plain date where a date-time is documented, and "
        "properties the schema does not name (RelatedClientGroupKey, ClientTaskRecipients, "
        "read-only fields sent back): accepted, the unknown ones ignored",
        201,
        None,
        f"{_PM}'#5170 Create WorkItem with Basic work fields', 'Create WorkItem without template "
        "and ClientTaskRecipients' (@b0eadd13ee, 2021-11-29, its last version)",
        (
            Example(
                "POST",
                "WorkItems",
                body={
                    **_work_item(),
                    "StartDate": "2021-07-11",
                    "DueDate": "2021-07-19",
                    "RelatedClientGroupKey": "{ClientGroups}",
                    "ClientTaskRecipients": [],
                },
                expect={"StartDate": "{any}"},
            ),
        ),
        beyond_spec=True,
    ),
    LiveBehaviour(
        "note-dates-with-offset",
        "a note with date-times carrying a UTC offset, and TodoDate (not in the spec)",
        201,
        None,
        f"{_PM}'Create Note' {_LAST}",
        (
            Example(
                "POST",
                "Notes",
                body={
                    "Subject": "S",
                    "Body": "B",
                    "AuthorEmailAddress": "{user}",
                    "AssigneeEmailAddress": "{user}",
                    "DueDate": "2021-03-11T15:12:55+11:00",
                    "TodoDate": "2021-03-11T15:12:55+11:00",
                },
            ),
        ),
    ),
    LiveBehaviour(
        "patch-workitem-worktype",
        "PATCH of WorkType on a work item: refused in 2021-22, patchable since 2026-06-11 (the "
        "newer source wins)",
        200,
        None,
        f"release note 2026-06-11 (FACTS §6, §2.3) over {_PM}'Partial Update WorkItem - "
        f"Unsupported Property' {_LAST} (400 then)",
        (
            Example(
                "PATCH",
                "WorkItems/{WorkItems}",
                body={"WorkType": "{worktype}"},
                headers=_PREFER,
                expect={"WorkType": "{worktype}"},
            ),
        ),
    ),
    # ---------------------------------------------------------------- queries the suite ran
    LiveBehaviour(
        "filters-accepted",
        "the filters the suite ran: parenthesised contains(), a space before the comma, "
        "lambda any() on Timesheets, ranges on dates",
        200,
        None,
        f"{_PM}'Search ... with contains' on Users, Contacts, WorkItems; 'Search filter by "
        f"WorkItemKey', 'Search with StartDate greater than', 'Search filter by UserKey', "
        f"'Search filter by Status', '#5170 Search for WorkItems with Basic Work Item fields "
        f"Start Date filters', 'Search for WorkItems with Basic Work Item fields WorkStatus' "
        f"{_LAST}",
        (
            _get("Users", filter="(contains(Name, 'a'))"),
            _get("Users", filter="(contains(EmailAddress, 'a'))"),
            _get("Users", filter="EmailAddress eq '{user}'"),
            _get("Contacts", filter="(contains(EmailAddress, 'example'))"),
            _get("WorkItems", filter="(contains(AssigneeEmailAddress , 'a'))"),
            _get("WorkItems", filter="(contains(WorkType , 'Tax'))"),
            _get("WorkItems", filter="WorkStatus eq 'Completed'"),
            _get(
                "WorkItems",
                filter="ClientKey eq '{Contacts}' and StartDate ge 2020-06-30 and "
                "StartDate le 2050-06-30",
            ),
            _get("Timesheets", filter="WorkItemKeys/any(s:s eq '{WorkItems}')"),
            _get("Timesheets", filter="StartDate gt 2021-04-27T00:00:00Z"),
            _get("Timesheets", filter="UserKey eq '{userkey}'"),
            _get("Timesheets", filter="Status eq 'Draft'"),
            _get("ClientGroups", filter="FullName eq 'no such group'"),
            _get("Contacts", filter="PhoneNumber eq '12345678'"),
            _get("Contacts", filter="(contains(FullName, 'a'))"),
            _get("Organizations", filter="FullName eq 'Some Org'"),
            _get("WorkTemplates", filter="Title eq 'Accounting: Month-end close'"),
            _get("WorkItems", filter="PrimaryStatus eq 'Planned'"),
        ),
    ),
    LiveBehaviour(
        "single-gets",
        "GET of one record by key, with the $expand each takes",
        200,
        None,
        f"{_PM}'Get by PermaKey' (ClientGroups, Organizations), 'Search By Timesheet Key', "
        f"'Get By Permakey' (WorkTemplates), 'Get BusinessCard', 'Get comment valid', "
        f"'#5170 Get WorkSchedule by Permakey', '#5170 Get by PermaKey with basic work fields "
        f"Expand', 'Get by PermaKey with expand Contacts' {_LAST}; 'Get Estimate Summaries by "
        "WorkItemKey' @f9f6d72acb (2022-06-09)",
        (
            _get("ClientGroups/{ClientGroups}"),
            _get("Organizations/{Organizations}"),
            _get("Organizations/{Organizations}", expand="Contacts"),
            _get("WorkItems/{WorkItems}"),
            _get("WorkSchedules/{WorkSchedules}"),
            _get("WorkTemplates/{WorkTemplates}"),
            _get("Timesheets/{Timesheets}"),
            _get("BusinessCards/{card:Contacts}"),
            _get("EstimateSummaries/{WorkItems}"),
            Example("GET", "Comments('{Comments}')"),
        ),
    ),
    LiveBehaviour(
        "unknown-key-404",
        "a key that does not exist, without query options",
        404,
        None,
        f"{_PM}'Get by PermaKey that doesn't exist' (ClientGroups), 'Get WorkItem by PermaKey "
        f"Should 404', 'Get WorkSchedule by Wrong Permakey', 'Get comment' (Comments) {_LAST}",
        (
            _get("ClientGroups/NoSuchGroup01"),
            _get("WorkItems/NoSuchWork001"),
            _get("WorkSchedules/WRONGKEY"),
            Example("GET", "Comments('NoSuchComment')"),
        ),
        code="4004",
    ),
    # ---------------------------------------------------------------- webhook subscriptions
    LiveBehaviour(
        "webhook-second-post",
        "a second POST for a type that has a subscription answers 201 and replaces its "
        "TargetUrl (the quick reference's 'delete it first' is advice, not a refusal)",
        201,
        None,
        f"{_PM}'Create Contact - Different target url', 'Create Work - Different target url', "
        f"'Create Note - Different target url' and the GETs after them, @deaf3cbd4b "
        f"(2022-05-26) to {_LAST}",
    ),
    LiveBehaviour(
        "webhook-post-invalid",
        "POST without WebhookType, without TargetUrl, or with a type that does not exist",
        400,
        None,
        f"{_PM}'No existing webhookSubscriptions', 'No Target Url', 'Create WebhookSubscription "
        f"NegativeTest' {_LAST}; the invalid type answered 404 from @d0443f7178 to @1324ab30af "
        "(2022-05-09..24), 400 since @deaf3cbd4b (2022-05-26): the newer wins",
        (
            Example("POST", "WebhookSubscriptions", body={"TargetUrl": "https://example.com/h"}),
            Example("POST", "WebhookSubscriptions", body={"WebhookType": "Work"}),
            Example(
                "POST",
                "WebhookSubscriptions",
                body={"TargetUrl": "https://example.com/h", "WebhookType": "Nonsense"},
            ),
        ),
    ),
    LiveBehaviour(
        "webhook-post-http",
        "a TargetUrl not starting with the lowercase https://",
        400,
        "Target URL must begin with https://",
        "release note 2024-08-12; FACTS §1.1, §3.1",
        (
            Example(
                "POST",
                "WebhookSubscriptions",
                body={"TargetUrl": "http://example.com/h", "WebhookType": "Work"},
            ),
            Example(
                "POST",
                "WebhookSubscriptions",
                body={"TargetUrl": "HTTPS://example.com/h", "WebhookType": "Work"},
            ),
        ),
    ),
    LiveBehaviour(
        "webhook-get-invalid",
        "GET or DELETE of a type that does not exist, or of none; GET of a type without a "
        "subscription",
        404,
        None,
        f"{_PM}'GetWebhookSubscription NegativeTest', 'Delete WebhookSubscription "
        f"NegativeTest', 'Get - No webhook subscription', 'Get Contact 404 after Deletion' "
        f"{_LAST}",
        (
            _get("WebhookSubscriptions/Nonsense"),
            Example("DELETE", "WebhookSubscriptions/Nonsense"),
            _get("WebhookSubscriptions/"),
            _get("WebhookSubscriptions/Contact"),
        ),
    ),
    LiveBehaviour(
        "webhook-contentitem-retired",
        "the ContentItem type, renamed Note on 2022-05-31: refused since (the suite subscribed "
        "to it until 2022-05-24; the release note is newer)",
        404,
        "No Webhook Type found",
        f"release note 2022-05-31 (FACTS §6, §3.1) over {_PM}'GetWebhookSubscription "
        "ContentItem' and 'Delete ContentItem WebhookSubscription' @1324ab30af (2022-05-24)",
        (
            _get("WebhookSubscriptions/ContentItem"),
            Example("DELETE", "WebhookSubscriptions/ContentItem"),
        ),
        code="4004",
    ),
)
