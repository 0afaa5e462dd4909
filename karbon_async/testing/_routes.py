"""Every endpoint of the fake but the generic entity-set GETs, in one table.

A row is (method, path pattern after "/v3/", handler); the server tries the rows in order and
the first whose pattern and method match answers (HEAD is served by a GET row). A path that
matches a row's pattern but none with its method is answered 405 like Karbon; a path no row
matches goes to ``_entity_sets`` (lists with OData options, single records, UDI lookups,
TenantSettings). Handlers live in the domain modules; none registers itself, so what answers a
request is read here, not inferred from import order (httpx's ``MockTransport`` takes its
handler explicitly for the same reason). No two rows with the same method match one path
(``tests/testing/test_fake_layout.py`` checks it), so the order is only for reading.
"""

from __future__ import annotations

import re

from . import _billing, _clients, _custom_fields, _files, _people, _webhooks, _work, _writes
from ._common import Handler, Route

__all__ = ["ROUTES"]

_KEY = r"(?P<key>[^/]+)"


def _row(method: str, pattern: str, handler: Handler) -> Route:
    return Route(method, re.compile(pattern + r"/?$", re.IGNORECASE), handler)


ROUTES: tuple[Route, ...] = (
    # clients: contacts, organizations and client groups (POST/PUT/PATCH), their cards
    _row("POST", rf"(?P<set>{_writes.WRITE_SETS})", _writes.create_entity),
    _row("PUT", rf"(?P<set>{_writes.WRITE_SETS})/{_KEY}", _writes.replace_entity),
    _row("PATCH", rf"(?P<set>{_writes.WRITE_SETS})/{_KEY}", _writes.patch_entity),
    _row("GET", rf"BusinessCards/{_KEY}", _clients.get_business_card),
    _row("PUT", rf"BusinessCards/{_KEY}", _clients.put_business_card),
    # custom fields
    _row("POST", r"CustomFields", _custom_fields.create_custom_field),
    _row("DELETE", rf"CustomFields/{_KEY}", _custom_fields.delete_custom_field),
    _row("GET", rf"CustomFieldValues/{_KEY}", _custom_fields.get_custom_field_values),
    _row("PUT", rf"CustomFieldValues/{_KEY}", _custom_fields.put_custom_field_values),
    # people and notes
    _row("POST", r"Users", _people.create_user),
    _row("POST", rf"Teams/{_KEY}/AddMembers", _people.add_team_members),
    _row("POST", rf"Teams/{_KEY}/RemoveMember", _people.remove_team_member),
    _row("POST", r"Notes", _people.create_note),
    # work
    _row("GET", rf"EstimateSummaries/{_KEY}", _work.estimate_summaries),
    _row("POST", r"WorkSchedules", _work.create_work_schedule),
    _row("PUT", rf"WorkSchedules/{_KEY}", _work.put_work_schedule),
    _row("PATCH", rf"WorkSchedules/{_KEY}", _work.patch_work_schedule),
    _row("PUT", rf"IntegrationTasks/{_KEY}", _work.put_integration_task),
    # billing
    _row("POST", r"ManualPayments", _billing.create_manual_payment),
    _row("DELETE", rf"ManualPayments/{_KEY}", _billing.delete_manual_payment),
    _row("POST", r"ReverseManualPayment", _billing.reverse_manual_payment),
    _row("POST", r"Expenses", _billing.create_expense),
    # files
    _row("POST", r"Files", _files.create_file),
    _row("GET", r"Files", _files.download_file),
    _row("GET", r"FileList/(?P<type>[^/]+)", _files.list_files),
    _row("GET", rf"FileDetails/{_KEY}", _files.file_details),
    _row("GET", rf"FileDetails/{_KEY}/Download", _files.file_download_redirect),
    # webhook subscriptions
    _row("POST", r"WebhookSubscriptions", _webhooks.create_webhook),
    _row("GET", r"WebhookSubscriptions/(?P<type>[^/]+)", _webhooks.get_webhook),
    _row("DELETE", r"WebhookSubscriptions/(?P<type>[^/]+)", _webhooks.delete_webhook),
    _row("DELETE", r"WebhookSubscriptions", _webhooks.delete_all_webhooks),
)
