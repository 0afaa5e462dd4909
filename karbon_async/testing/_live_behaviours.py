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
"FACTS §x" a section of the API digest (guides, release notes, spec); "issue 9/10" the
project's issues quoting live answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "ACCOUNTING_INTEGERS",
    "BEHAVIOURS",
    "FILTER_COMBINATORS",
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


def _get(path: str, **query: str) -> Example:
    return Example("GET", path, {f"${k}": v for k, v in query.items()})


_PREFER = {"Prefer": "return=representation"}
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
        "The property 'EstimatedBudget' cannot be used in the $orderby query option.",
        "Postman #105 (status); spec 4002 example (text)",
        (_get("WorkTemplates", orderby="EstimatedBudget", top="10"),),
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
        "POST ClientGroups and Users answer 200 as the spec documents (the 2021-22 suite saw "
        "201; the SDK accepts both); the other creates 201",
        200,
        None,
        "FACTS.md §7 (spec 200) vs Postman #1, #10 (201); issue 10",
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
)
