"""File endpoints: multipart upload, listings, details and token downloads."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader, web

from ._account import StoredFile
from ._billing import invoice_pdf
from ._common import (
    Call,
    Reply,
    error,
    json_response,
    location,
    stamp,
)

__all__ = ["file_response"]


_UNSUPPORTED_MIME = frozenset(
    {
        "application/x-msdownload", "application/x-sh", "application/x-bat", "text/html",
        "application/javascript", "text/javascript", "application/x-executable",
    }
)  # fmt: skip


_UNSUPPORTED_EXT = (".exe", ".bat", ".cmd", ".sh", ".js", ".html", ".htm", ".msi", ".ps1")


_FILE_LINKS = {
    "contact_keys": ("Contacts", "Contact"),
    "organization_keys": ("Organizations", "Organization"),
    "client_group_keys": ("ClientGroups", "ClientGroup"),
    "workitem_keys": ("WorkItems", "WorkItem"),
    "integration_task_key": ("IntegrationTasks", "IntegrationTask"),
}


async def create_file(call: Call) -> web.StreamResponse:
    ctype = call.request.headers.get("Content-Type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise Reply(415, error("4002", "The request entity's media type is not supported."))
    reader = await call.request.multipart()
    upload: tuple[str, str, bytes] | None = None
    links: list[tuple[str, str]] = []
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if name == "file":
            data = await part.read(decode=False)
            mime = part.headers.get("Content-Type", "application/octet-stream")
            upload = (part.filename or "upload.bin", mime, bytes(data))
        elif name in _FILE_LINKS:
            value = (await part.text()).strip()
            if value:
                links.append((name, value))
        else:
            await part.release()
    if upload is None:
        raise Reply(400, error("4005", "Required payload data is missing: file"))
    if len(links) != 1:
        raise Reply(
            400,
            error(
                "4002",
                "Exactly one of contact_keys, organization_keys, client_group_keys, "
                "workitem_keys or integration_task_key must be provided.",
            ),
        )
    link_name, entity_key = links[0]
    collection, entity_type = _FILE_LINKS[link_name]
    if call.store(collection).index_of(entity_key) is None:
        raise Reply(400, error("4004", f"File entity is not found for permakey {entity_key}"))
    filename, mime, data = upload
    if mime.split(";")[0].strip().lower() in _UNSUPPORTED_MIME or filename.lower().endswith(
        _UNSUPPORTED_EXT
    ):
        raise Reply(500, error("5001", "Unsupported file type"))
    files = call.account.files
    key = call.account.data.keyer("Files").key(len(files))
    files[key] = StoredFile(key, filename, mime, data, entity_type, entity_key, stamp()[:19] + "Z")
    out = {
        "@odata.context": call.context("Files/$entity"),
        "Id": key,
        "Name": filename,
        "MimeType": mime,
        "Size": str(len(data)),  # the spec types it as a string
    }
    return json_response(201, out, headers=location(call, "Files", key))


def _file_item(call: Call, f: StoredFile) -> dict[str, Any]:
    token = call.fake.mint_download_token(call.account, f.key)
    return {
        "FileContextKey": f.key,
        "FileName": f.name,
        "FileSize": len(f.data),
        "MimeType": f.mime_type,
        "DownloadUrl": f"{call.fake.base_url}/v3/Files?token={token}",
        "DateCreated": f.created,
    }


_LISTABLE_FILE_TYPES = {
    "WorkItem": "WorkItems",
    "Contact": "Contacts",
    "Organization": "Organizations",
}


async def list_files(call: Call) -> web.StreamResponse:
    raw_type = call.params["type"]
    entity_type = next((t for t in _LISTABLE_FILE_TYPES if t.lower() == raw_type.lower()), None)
    if entity_type is None:
        raise Reply(
            404,
            error(
                "4002",
                f"No HTTP resource was found that matches the request URI '{call.request.url}'.",
            ),
        )
    entity_key = call.request.query.get("EntityKey", "").strip()
    if not entity_key:
        raise Reply(400, error("4005", "Required payload data is missing: EntityKey"))
    if call.store(_LISTABLE_FILE_TYPES[entity_type]).index_of(entity_key) is None:
        raise Reply(400, error("4004", f"File entity is not found for permakey {entity_key}"))
    items = [
        _file_item(call, f)
        for f in call.account.files.values()
        if f.entity_type == entity_type and f.entity_key == entity_key and not f.archived
    ]
    body = {
        "@odata.context": call.context("FileList/$entity"),
        "EntityKey": entity_key,
        "EntityType": entity_type,
        "Attachments": items,
    }
    return json_response(200, body)


def _stored_file(call: Call, key: str) -> StoredFile:
    f = call.account.files.get(key)
    if f is None:
        raise Reply(404, error("4004", f"No file found for provided key {key}"))
    return f


async def file_details(call: Call) -> web.StreamResponse:
    f = _stored_file(call, call.params["key"])
    body = {"@odata.context": call.context("FileDetails/$entity"), **_file_item(call, f)}
    body["IsArchived"] = f.archived
    return json_response(200, body)


async def file_download_redirect(call: Call) -> web.StreamResponse:
    f = _stored_file(call, call.params["key"])
    token = call.fake.mint_download_token(call.account, f.key)
    location = f"{call.fake.download_base_url}/files/{token}"
    return web.Response(status=302, headers={"Location": location})


async def download_file(call: Call) -> web.StreamResponse:
    token = call.request.query.get("token", "")
    if not token:
        raise Reply(400, error("4005", "Required payload data is missing: token"))
    found = call.fake.resolve_download_token(token)
    if found is None:
        invoice = invoice_pdf(call, token)
        if invoice is not None:
            return invoice
        raise Reply(400, error("4001", "Attachment token could not be validated."))
    account, f = found
    if account is not call.account:
        raise Reply(400, error("4001", "Attachment token could not be validated."))
    return file_response(f)


def file_response(f: StoredFile) -> web.Response:
    return web.Response(
        status=200,
        body=f.data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{f.name}"',
        },
    )
