"""Files: multipart upload, details, listing, and streamed downloads.

The transport takes a body as bytes, so the multipart body is built here with aiohttp's
``MultipartWriter`` (the file is held in memory once, as the API's own limit on uploads allows).
Downloads never are: they are streamed through ``Transport.stream`` chunk by chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import urljoin

import aiohttp

from ._converter import structure
from ._endpoint import Resource, operation
from ._generated import models as m
from ._generated.operations import Ops
from ._limits import Lane
from ._read_endpoints import GetEndpoint
from ._redact import shown_url
from ._sender import decode_reply
from ._urls import normalise_link, origin_of, path_segment

LINK_FIELDS = (
    "contact_keys",
    "organization_keys",
    "client_group_keys",
    "workitem_keys",
    "integration_task_key",
)
"""The multipart fields that attach an upload to a record; exactly one is sent."""


class _Collector:
    """Just enough of aiohttp's stream writer to serialise a ``MultipartWriter`` into bytes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self.parts.append(bytes(chunk))

    async def write_eof(self, chunk: bytes = b"") -> None:  # pragma: no cover - not called
        self.parts.append(bytes(chunk))


def _clean_filename(filename: str) -> str:
    if not isinstance(filename, str) or not filename.strip():
        raise ValueError("filename must be a non-empty string")
    if any(ch in filename for ch in "\r\n\x00") or "/" in filename or "\\" in filename:
        raise ValueError(f"invalid filename {filename!r}: no path separators or line breaks")
    return filename


async def multipart_body(
    data: bytes, *, filename: str, content_type: str, link_field: str, link_key: str
) -> tuple[bytes, str]:
    """(body, Content-Type with boundary) of a ``createFile`` upload."""
    writer = aiohttp.MultipartWriter("form-data")
    link = writer.append(link_key)
    link.set_content_disposition("form-data", name=link_field)
    part = writer.append(data, {"Content-Type": content_type})
    part.set_content_disposition("form-data", name="file", filename=_clean_filename(filename))
    collector = _Collector()
    await writer.write(cast(Any, collector))
    return b"".join(collector.parts), writer.content_type


class Files(Resource):
    """Upload a file to one record, read its details, list a record's files, download."""

    get = GetEndpoint.of(Ops.getFileDetailsByKey)

    @operation("listFiles")
    async def list(
        self, entity_type: m.EntityType | str, entity_key: str, *, lane: Lane | None = None
    ) -> m.FileList:
        """The files attached to one record (``entity_type``: WorkItem, Contact, ...)."""
        sender = self._sender
        if not isinstance(entity_key, str) or not entity_key.strip():
            raise ValueError("entity_key must be a non-empty string")
        url = sender.url_for(
            f"/v3/FileList/{path_segment(str(entity_type), name='entity_type')}",
            {"EntityKey": entity_key},
        )
        document = await sender.send_json("GET", url, lane=self._lane_or(Lane.INTERACTIVE, lane))
        return structure(document, m.FileList)

    @operation("createFile")
    async def upload(
        self,
        data: bytes | os.PathLike[str] | str,
        *,
        filename: str | None = None,
        content_type: str = "application/octet-stream",
        contact_key: str | None = None,
        organization_key: str | None = None,
        client_group_key: str | None = None,
        work_item_key: str | None = None,
        integration_task_key: str | None = None,
        lane: Lane | None = None,
    ) -> m.FileCreated:
        """Upload ``data`` (bytes, or a path to read) attached to exactly one record.

        ``filename`` defaults to the path's name; ``content_type`` is the file part's MIME type
        (executables, scripts and raw HTML are refused by the API: zip them).
        """
        links = {
            "contact_keys": contact_key,
            "organization_keys": organization_key,
            "client_group_keys": client_group_key,
            "workitem_keys": work_item_key,
            "integration_task_key": integration_task_key,
        }
        given = {field: key for field, key in links.items() if key is not None}
        if len(given) != 1:
            raise ValueError(
                "give exactly one of contact_key, organization_key, client_group_key, "
                f"work_item_key, integration_task_key (got {len(given)})"
            )
        ((link_field, link_key),) = given.items()
        if not isinstance(link_key, str) or not link_key.strip() or "," in link_key:
            raise ValueError(f"{link_field}: one non-empty key, got {link_key!r}")
        if isinstance(data, bytes | bytearray):
            payload = bytes(data)
            if filename is None:
                raise ValueError("filename is required when data is bytes")
        elif isinstance(data, str | os.PathLike):
            payload = await asyncio.to_thread(_read_file, data)
            filename = filename or os.path.basename(os.fspath(data))
        else:
            raise TypeError(f"data must be bytes or a path, got {type(data).__name__}")
        if any(ch in content_type for ch in "\r\n"):
            raise ValueError("content_type must not contain line breaks")
        body, multipart_type = await multipart_body(
            payload,
            filename=filename,
            content_type=content_type,
            link_field=link_field,
            link_key=link_key,
        )
        sender = self._sender
        response = await sender.send(
            "POST",
            sender.url_for("/v3/Files"),
            body=body,
            content_type=multipart_type,
            lane=self._lane_or(Lane.INTERACTIVE, lane),
        )
        return decode_reply(response, "POST", m.FileCreated)

    @operation("downloadFileDetailsByKey")
    async def download(self, key: str, *, lane: Lane | None = None) -> AsyncIterator[bytes]:
        """The file's bytes, chunk by chunk: ``async for chunk in client.files.download(k)``.

        The API answers 302 to a freshly tokened URL. One on the configured Karbon origin (the
        spec's ``/v3/Files?token=...``, which needs both auth headers) is a Karbon request: sent
        with credentials, through the account's budget. One on another host (a storage CDN) is
        fetched with a plain request that carries no Karbon credentials and takes nothing from
        the budget.
        """
        sender = self._sender
        url = sender.url_for(f"/v3/FileDetails/{path_segment(key)}/Download")
        lane_ = self._lane_or(Lane.INTERACTIVE, lane)
        response = await sender.send("GET", url, lane=lane_, accept_redirect=True)
        if 200 <= response.status < 300:  # served directly: already read
            yield response.body
            return
        location = next(
            (value for name, value in response.headers.items() if name.lower() == "location"),
            None,
        )
        if not location:
            raise ValueError(f"{response.status} from {shown_url(url)} without a Location header")
        target = urljoin(url, normalise_link(location))
        offsite = origin_of(target) != sender.origin
        async with sender.stream(target, lane=lane_, offsite=offsite) as streamed:
            async for chunk in streamed.chunks:
                yield chunk

    @operation("downloadFile")
    async def download_by_token(
        self, token: str, *, lane: Lane | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes of a file by the download token of a ``list`` entry, chunk by chunk."""
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be a non-empty string")
        sender = self._sender
        url = sender.url_for("/v3/Files", {"token": token})
        async with sender.stream(url, lane=self._lane_or(Lane.INTERACTIVE, lane)) as streamed:
            async for chunk in streamed.chunks:
                yield chunk

    async def download_to(
        self, key: str, path: os.PathLike[str] | str, *, lane: Lane | None = None
    ) -> int:
        """Stream the file (``download``) into ``path``; returns the number of bytes written.
        A partly written file is removed when the download fails."""
        return await _save(self.download(key, lane=lane), path)

    async def download_by_token_to(
        self, token: str, path: os.PathLike[str] | str, *, lane: Lane | None = None
    ) -> int:
        """Stream the file (``download_by_token``) into ``path``; returns the bytes written."""
        return await _save(self.download_by_token(token, lane=lane), path)


def _read_file(path: os.PathLike[str] | str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _remove_quietly(path: os.PathLike[str] | str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


async def _save(chunks: AsyncIterator[bytes], path: os.PathLike[str] | str) -> int:
    """Write chunks as they arrive (file I/O off the event loop); nothing is accumulated."""
    written = 0
    handle = await asyncio.to_thread(open, path, "wb")
    try:
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
                written += len(chunk)
        finally:
            await asyncio.to_thread(handle.close)
    except BaseException:
        await asyncio.to_thread(_remove_quietly, path)
        raise
    return written
