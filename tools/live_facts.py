"""Facts about the live Karbon API that the OpenAPI document does not state (or states wrongly).

The one curated table the operation generator (``tools/operations_gen.py``) merges into
``karbon_async/_generated/operations.py``. Every row names its source: a section of the API
digest (FACTS.md), the spec's own prose (a description table is not machine-readable), or the
message the live API answered with. Edit a row here and re-run ``tools/generate_models.py``.

Filter rows list, per list operation, EVERY field ``$filter`` accepts; a field or operator left
out is refused by the SDK before sending. Operators: eq ne gt ge lt le in any; functions:
contains startswith day month year.
"""

from __future__ import annotations

from dataclasses import dataclass

from karbon_async.testing._live_behaviours import ACCOUNTING_INTEGERS


@dataclass(frozen=True)
class FilterFact:
    field: str
    operators: tuple[str, ...]
    functions: tuple[str, ...] = ()
    spellings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FilterFacts:
    """Every filterable field of one list operation."""

    fields: tuple[FilterFact, ...]
    source: str


EQ = ("eq",)
TEXT = ("contains",)
RANGE = ("eq", "gt", "ge", "lt", "le")
DATE_PARTS = ("day", "month", "year")

# The unspaced spelling (the spec's enum, and what request bodies use) silently matches nothing
# in $filter; the spaced one matches (FACTS.md §2.3).
PRIMARY_STATUS_SPELLINGS = (("ReadyToStart", "Ready To Start"), ("InProgress", "In Progress"))

_NOT_NE = "live API: \"Logical operator 'NotEqual' is not allowed\" (issue 9)"
_NOT_STARTSWITH = "live API: \"Function 'startswith' is not allowed\" (issue 9)"

FILTERS: dict[str, FilterFacts] = {
    "getAllContacts": FilterFacts(
        (
            FilterFact("FullName", EQ, TEXT),
            FilterFact("EmailAddress", EQ, TEXT),
            FilterFact("PhoneNumber", EQ, TEXT),
            FilterFact("ContactType", EQ, TEXT),
            FilterFact("ExternalKey", EQ),
        ),
        f"FACTS.md §2.2 (table, later additions), §2.10; {_NOT_NE}; {_NOT_STARTSWITH}",
    ),
    "getAllOrganizations": FilterFacts(
        (
            FilterFact("FullName", EQ, TEXT),
            FilterFact("EmailAddress", EQ, TEXT),
            FilterFact("ContactType", EQ, TEXT),
            FilterFact("ExternalKey", EQ),
            FilterFact("ExternalId", EQ),
        ),
        f"FACTS.md §2.2 (table, later additions); {_NOT_NE}; {_NOT_STARTSWITH}",
    ),
    "getClientGroups": FilterFacts(
        (FilterFact("FullName", EQ),),
        f"FACTS.md §2.2 (FullName eq only, no contains); spec pattern ^FullName; {_NOT_STARTSWITH}",
    ),
    "getAllWorkItems": FilterFacts(
        (
            FilterFact("AssigneeEmailAddress", EQ, TEXT),
            FilterFact("ClientKey", EQ),
            FilterFact("PrimaryStatus", EQ, spellings=PRIMARY_STATUS_SPELLINGS),
            FilterFact("StartDate", ("ge", "le")),
            FilterFact("Title", EQ, TEXT),
            FilterFact("WorkScheduleKey", EQ),
            FilterFact("WorkStatus", EQ, TEXT),
            FilterFact("WorkTemplateKey", EQ),
            FilterFact("WorkType", EQ, TEXT),
            FilterFact("ExternalKey", EQ),
        ),
        f"FACTS.md §2.3, §2.10; spec description table of getAllWorkItems; {_NOT_STARTSWITH}",
    ),
    "getAllWorkTemplates": FilterFacts(
        (
            FilterFact("Title", EQ, ("startswith",)),
            FilterFact("WorkTypeKey", EQ, ("startswith",)),
            FilterFact("HasScheduledClientTaskGroups", EQ),
            FilterFact("DraftHasChanges", EQ),
            FilterFact("PublishedDate", EQ),
            FilterFact("NumberOfWorkItemsCreated", EQ),
            FilterFact("DateLastWorkItemCreated", EQ),
            FilterFact("DateModified", EQ),
        ),
        "FACTS.md §2.10; spec description table of getAllWorkTemplates; live API: startswith "
        "accepted (issue 9)",
    ),
    "getAllTimesheets": FilterFacts(
        (
            FilterFact("StartDate", RANGE, DATE_PARTS),
            FilterFact("EndDate", RANGE, DATE_PARTS),
            FilterFact("TimesheetKey", EQ),
            FilterFact("UserKey", ("eq", "in")),
            FilterFact("WorkItemKeys", ("any",)),
            FilterFact("Status", ("eq", "in")),
        ),
        "FACTS.md §2.10; spec description tables of getAllTimesheets; live API: day()/month()/"
        "year() accepted here only (issue 9)",
    ),
    "getAllIndividualTimeEntries": FilterFacts(
        (
            FilterFact("Date", RANGE),
            *(
                FilterFact(name, EQ)
                for name in (
                    "TimesheetKey",
                    "EntityKey",
                    "WorkItemKey",
                    "ClientKey",
                    "UserKey",
                    "RoleName",
                    "TaskTypeName",
                )
            ),
        ),
        "FACTS.md §2.10; live API: day()/month()/year() accepted on Timesheets only (issue 9)",
    ),
    "getAllUsers": FilterFacts(
        (FilterFact("Name", EQ, TEXT), FilterFact("EmailAddress", EQ, TEXT)),
        "spec description of getAllUsers (eq, contains, and); FACTS.md §2.8, §2.10",
    ),
    "getAllTeams": FilterFacts((FilterFact("Name", EQ),), "FACTS.md §2.10"),
    "getAllRoles": FilterFacts((FilterFact("Name", EQ),), "FACTS.md §2.10"),
    "getInvoices": FilterFacts(
        (FilterFact("InvoiceStatus", EQ),), "FACTS.md §2.4 (InvoiceStatus only), §2.10"
    ),
}


@dataclass(frozen=True)
class ExpandFact:
    names: tuple[str, ...]
    source: str


# $expand where the spec's list of names is wrong or absent; () means "not accepted".
EXPAND: dict[str, ExpandFact] = {
    "getOrganizationByID": ExpandFact(
        ("BusinessCards", "ClientTeam", "Contacts"),
        "FACTS.md §2.2, §2.10 (the spec's examples also show a singular BusinessCard)",
    ),
    "getAllWorkTemplates": ExpandFact((), "live API: $expand refused on the list (issue 9)"),
    "getWorkScheduleByID": ExpandFact((), "live API: $expand refused (issue 9)"),
}


@dataclass(frozen=True)
class PageSizeFact:
    limit: int
    source: str


PAGE_SIZES: dict[str, PageSizeFact] = {
    "getAllWorkTemplates": PageSizeFact(
        10, "live API: 400 \"The limit of '10' for Top query has been exceeded\" (FACTS.md §2.6)"
    ),
}


@dataclass(frozen=True)
class PatchFact:
    """A PATCH that answers 200 with the updated record when sent
    ``Prefer: return=representation`` (the spec documents 204 or the header on one only);
    ``response``: the model of that record where the spec has none."""

    response: str | None
    source: str


PREFER_REPRESENTATION: dict[str, PatchFact] = {
    "patchContactsByID": PatchFact(None, "live API: 200 with the updated record (issue 9)"),
    "patchOrganizationByID": PatchFact(None, "spec Prefer header; FACTS.md §2.10"),
    "patchClientGroupByID": PatchFact(
        "ClientGroup", "live API: 200 with the updated record (issue 9)"
    ),
    "patchWorkItemByID": PatchFact("WorkItem", "live API: 200 with the updated record (issue 9)"),
}


@dataclass(frozen=True)
class StatusFact:
    statuses: tuple[int, ...]
    source: str


# Success statuses besides the spec's: where the guides and the spec disagree, both are taken.
EXTRA_SUCCESS: dict[str, StatusFact] = {
    "createClientGroup": StatusFact(
        (201,), "FACTS.md §7 and SPEC_DIGEST §14: documented 200 where other creates say 201"
    ),
    "createUser": StatusFact(
        (201,), "FACTS.md §7 and SPEC_DIGEST §14: documented 200 where other creates say 201"
    ),
}

SELECT_ACCEPTED = False
"""``$select`` is accepted on no operation (SPEC_DIGEST: documented nowhere; issue 9: refused
live); the SDK offers no ``select`` argument and the generated table has no such column."""


# --------------------------------------------------------------------------------------------
# Request bodies: what live Karbon accepted that the spec's schemas do not allow.
# --------------------------------------------------------------------------------------------
# A request model refuses, before sending, a null the spec does not allow, except where the live
# API was seen to accept it (the rule: send only what Karbon accepts, and be able to send all of
# it). "Postman" is Karbon's public integration-test collection
# (karbonhq/karbon-api-reference, public-api/integration-tests/postman-collection.json), with the
# request's name and the commit of the version that sent it; each answer was 2xx. A class serves
# the POST and the PUT alike where the spec shares the schema (and so, by all appearances, does
# the server's model binding), so a null seen accepted on one of them is allowed on both.


@dataclass(frozen=True)
class NullFact:
    """Explicit ``null`` accepted for these fields of one request class."""

    fields: tuple[str, ...]
    source: str


_PM_WORK_ITEM_PUT = "Postman '#5170 Update WorkItem' (890cb0bfed^, 2022-10-26): 204"
_PM_SCHEDULE = (
    "Postman '#5170 Create WorkSchedule from work item' (201) and '#5170 Update Work Schedule' "
    "(204), 890cb0bfed^, 2022-10-26"
)

REQUEST_NULLS: dict[str, NullFact] = {
    # CreateWorkItemRequest is also the PUT body (ReplaceWorkItemRequest).
    "CreateWorkItemRequest": NullFact(("WorkScheduleKey", "WorkTemplateKey"), _PM_WORK_ITEM_PUT),
    "CreateWorkScheduleRequest": NullFact(
        ("ScheduleDueDateMonthMultiple", "ScheduleEndDate"),
        f"{_PM_SCHEDULE}; ScheduleEndDate: the spec's own prose (set it to `null` to run forever)",
    ),
    "ReplaceWorkScheduleRequest": NullFact(
        ("ScheduleDueDateMonthMultiple", "ScheduleEndDate"),
        f"{_PM_SCHEDULE}; ScheduleEndDate: the spec's own prose (set it to `null` to run forever)",
    ),
    # CreateContactRequest is also the PUT body (ReplaceContactRequest).
    "CreateContactRequest": NullFact(
        ("ClientManager", "ClientOwner", "ContactType"),
        "Postman '#4350 Update Contact with extra CRM Fields' (e61ddb9e07, 2022-08-26): 204",
    ),
    "ReplaceOrganizationRequest": NullFact(
        ("ContactType",),
        "Postman '#4350 Update Organization with CRM Fields' (558bbc38e8, 2022-05-24): 204",
    ),
}

# Request fields that a caller may give as a numeric string ("11"): live accepted the string and
# answered with the integer, so the model takes it and sends the integer (one form on the wire).
NUMERIC_STRINGS: dict[str, tuple[str, ...]] = {
    # Postman '#4350 Create Contact with extra CRM Fields' (201) and '... Update Contact ...'
    # (204) send "FinancialYearEndDay": "11", "FinancialYearEndMonth": "0" (890cb0bfed^): the
    # same fact FakeKarbon's live-behaviour table answers by, so it is read from there.
    "DetailsOfAccountingInput": ACCOUNTING_INTEGERS,
}

# Fields the spec requires in a request body but that a record fetched for writing back cannot
# fill: ``modify`` would fail before sending. The field stays settable, and is left out when unset.
NOT_REQUIRED: dict[str, tuple[str, str]] = {
    # GetWorkSchedule documents CreatedFromWorkItemKey as "This value will be `null`" on every
    # GET; the 4002 "CreatedFromWorkItemKey not provided." example is documented for creation
    # only, and no evidence shows a PUT refused without it.
    "ReplaceWorkScheduleRequest": (
        "CreatedFromWorkItemKey",
        "spec: null on every GET; its 4002 refusal is documented for POST only",
    ),
}
