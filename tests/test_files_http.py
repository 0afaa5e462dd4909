"""Files over real sockets: AiohttpTransport.stream, the 302 to another host followed without
Karbon credentials, a large body streamed, and a multipart upload parsed by a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import karbon_async as ka

BIG = bytes(range(256)) * 8192  # 2 MiB


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, dict[str, list[dict[str, str]]]]]:
    seen: dict[str, list[dict[str, str]]] = {"karbon": [], "storage": [], "upload": []}

    async def storage_blob(request: web.Request) -> web.StreamResponse:
        seen["storage"].append(dict(request.headers))
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(BIG), 65536):
            await response.write(BIG[start : start + 65536])
        await response.write_eof()
        return response

    storage = web.Application()
    storage.router.add_get("/blob", storage_blob)
    storage_runner = web.AppRunner(storage)
    await storage_runner.setup()
    storage_site = web.TCPSite(storage_runner, "127.0.0.2", 0)
    await storage_site.start()
    storage_port = storage_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def download(request: web.Request) -> web.Response:
        seen["karbon"].append(dict(request.headers))
        if request.match_info["key"] == "missing":
            return web.json_response({"error": {"code": "4004", "message": "nope"}}, status=404)
        raise web.HTTPFound(f"http://127.0.0.2:{storage_port}/blob?sig=abc")

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        file = form["file"]
        assert isinstance(file, web.FileField)
        seen["upload"].append(
            {
                **{k: str(v) for k, v in form.items() if k != "file"},
                "filename": file.filename,
                "type": file.content_type,
                "size": str(len(file.file.read())),
            }
        )
        return web.json_response({"Id": "F1", "Name": file.filename}, status=201)

    karbon = web.Application()
    karbon.router.add_get("/v3/FileDetails/{key}/Download", download)
    karbon.router.add_post("/v3/Files", upload)
    karbon_runner = web.AppRunner(karbon)
    await karbon_runner.setup()
    karbon_site = web.TCPSite(karbon_runner, "127.0.0.1", 0)
    await karbon_site.start()
    port = karbon_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await karbon_runner.cleanup()
        await storage_runner.cleanup()


def make_client(base_url: str) -> ka.KarbonClient:
    return ka.KarbonClient(bearer_token="secret-token", access_key="secret-key", base_url=base_url)


async def test_download_streams_from_the_redirect_without_credentials(
    servers: tuple[str, dict[str, list[dict[str, str]]]], tmp_path: Path
) -> None:
    base_url, seen = servers
    async with make_client(base_url) as client:
        sizes = [len(chunk) async for chunk in client.files.download("F1")]
        assert sum(sizes) == len(BIG)
        assert max(sizes) <= 65536  # streamed in chunks, never read whole
        written = await client.files.download_to("F1", tmp_path / "f.bin")
        with pytest.raises(ka.NotFoundError):
            await client.files.download_to("missing", tmp_path / "g.bin")
    assert written == len(BIG)
    assert (tmp_path / "f.bin").read_bytes() == BIG
    assert not (tmp_path / "g.bin").exists()
    assert all(headers["AccessKey"] == "secret-key" for headers in seen["karbon"])
    for headers in seen["storage"]:
        assert "Authorization" not in headers
        assert "AccessKey" not in headers
    assert len(seen["storage"]) == 2


async def test_upload_is_a_real_multipart_form(
    servers: tuple[str, dict[str, list[dict[str, str]]]],
) -> None:
    base_url, seen = servers
    async with make_client(base_url) as client:
        created = await client.files.upload(
            b"x" * 1000, filename="report.pdf", content_type="application/pdf", contact_key="C1"
        )
    assert created.id == "F1"
    assert seen["upload"] == [
        {"contact_keys": "C1", "filename": "report.pdf", "type": "application/pdf", "size": "1000"}
    ]
