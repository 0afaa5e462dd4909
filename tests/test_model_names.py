"""Names and docstrings of the generated models agree with what the records are."""

from __future__ import annotations

import inspect

import attrs
import pytest

import karbon_async as ka
from karbon_async import models as m

MODELS = [
    cls
    for name in m.__all__
    if inspect.isclass(cls := getattr(m, name))
    and attrs.has(cls)
    and issubclass(cls, ka.KarbonModel)
]


def test_a_note_is_keyed_by_note_key_on_the_wire_as_id() -> None:
    note = ka.structure({"Id": "N1", "Subject": "Call", "Later": 1}, m.Note)
    assert note.note_key == "N1"
    sent = ka.unstructure(note)
    assert (sent["Id"], sent["Subject"], sent["Later"]) == ("N1", "Call", 1)
    assert "NoteKey" not in sent


def test_note_id_is_a_deprecated_alias() -> None:
    note = m.Note(note_key="N1")
    with pytest.warns(DeprecationWarning, match=r"Note\.id is deprecated; use Note\.note_key"):
        assert note.id == "N1"
    assert "id" not in attrs.fields_dict(m.Note)


def test_every_model_docstring_says_where_it_is_used() -> None:
    unused = set()
    for cls in MODELS:
        doc = " ".join((inspect.getdoc(cls) or "").split())
        uses = ("What ``", "One item of the list", "The body of", "Held in")
        if not any(use in doc for use in uses):
            unused.add(cls.__name__)
    # Webhook payloads and error bodies are met outside operations; spec schemas no operation
    # uses stay importable.
    spare = {
        "ResponseCreateClientGroup",
        "WorkItemWithFeeSettings",
        "WorkItemWithFeeSettingsAndUserRoleAssignments",
        "ResourceNotFound",
    }
    assert {n for n in unused if "Webhook" not in n and "Error" not in n} <= spare, unused


def test_docstrings_are_about_their_own_class() -> None:
    note = inspect.getdoc(m.Note) or ""
    assert note.startswith("A single Note")
    assert "Contact" not in note
    assert "getNoteByNoteKey" in note
    timeline = inspect.getdoc(m.Timeline) or ""
    assert "a note or an expense" in timeline
    assert "``Note.timelines``" in timeline
    assert "``CreateExpenseRequest.timeline``" in timeline
    source = inspect.getsource(m.Timeline)  # field docstrings live in the source only
    assert "this Expense" not in source
    organization = inspect.getdoc(m.Organization) or ""
    assert organization.startswith("A single Organization.")
    assert "business card is created" not in organization
    assert "getAllContacts" in (inspect.getdoc(m.ContactSummary) or "")
    assert "createContact" in (inspect.getdoc(m.CreateContactRequest) or "")


def test_contact_full_name_is_on_the_list_item_only() -> None:
    """The README prints ``full_name`` from ``contacts.list()``: the API sends FullName on list
    items; a single Contact carries FirstName, MiddleName and LastName, and Karbon's rule for
    composing FullName from them is not documented, so none is made up."""
    assert "full_name" in attrs.fields_dict(m.ContactSummary)
    assert "full_name" not in attrs.fields_dict(m.Contact)
    assert {"first_name", "middle_name", "last_name"} <= set(attrs.fields_dict(m.Contact))
