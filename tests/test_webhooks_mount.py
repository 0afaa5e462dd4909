"""The documented aiohttp mount answers at the documented subscribed URL, on a real server.

The mount statement and the subscribed URL are read from the documentation itself (README's
webhooks block, the package docstring), so the test fails when either drifts from the other.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientSession, web

from karbon_async import webhooks as wh

README = Path(__file__).resolve().parent.parent / "README.md"
KEY = "mount-test-signing-key_0123"


def _readme_webhooks_block() -> str:
    section = README.read_text(encoding="utf-8").split("## Webhooks", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "README's webhooks section has no python block"
    return found.group(1)


def _package_docstring_block() -> str:
    doc = inspect.getdoc(wh)
    assert doc is not None
    after = doc.split("::\n", 1)[1].splitlines()
    # The literal block: the indented (and blank) lines after "::".
    block = [
        line
        for line in after[
            : next(
                (i for i, line in enumerate(after) if line and not line.startswith(" ")), len(after)
            )
        ]
    ]
    return textwrap.dedent("\n".join(block))


def _mount_and_url(source: str) -> tuple[str, str]:
    """The ``app.add_subapp(...)`` statement and the URL ``ensure_subscription`` subscribes."""
    tree = compile(
        source, "<docs>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    mounts: list[str] = []
    urls: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr == "add_subapp":
            mounts.append(ast.unparse(node))
        elif node.func.attr == "ensure_subscription":
            url = node.args[2]
            assert isinstance(url, ast.Constant)
            assert isinstance(url.value, str)
            urls.append(url.value)
    assert len(mounts) == 1, mounts
    assert len(urls) == 1, urls
    return mounts[0], urls[0]


class Sink:
    def __init__(self) -> None:
        self.events: list[wh.WebhookEvent] = []

    def submit(self, event: wh.WebhookEvent) -> wh.SubmitOutcome:
        self.events.append(event)
        return wh.SubmitOutcome.ACCEPTED


def _delivery(key: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "ResourcePermaKey": key,
            "ResourceType": "Work",
            "ActionType": "Updated",
            "TimeStamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        wh.SIGNATURE_HEADER: wh.compute_signature(body, KEY),
    }
    return body, headers


@pytest.mark.parametrize("source", [_readme_webhooks_block, _package_docstring_block])
async def test_documented_mount_answers_at_the_subscribed_url(source: Callable[[], str]) -> None:
    mount, url = _mount_and_url(source())
    subscribed = urlsplit(url).path
    wh.validate_target_url(url)
    sink = Sink()
    receiver = wh.WebhookReceiver(KEY, sink)
    app = web.Application()
    eval(mount, {"app": app, "receiver": receiver})  # the documented statement, as written
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    try:
        async with ClientSession() as http:
            # Karbon POSTs to the TargetUrl exactly as subscribed; a trailing slash also works.
            for n, path in enumerate((subscribed, subscribed.rstrip("/") + "/")):
                body, headers = _delivery(f"W{n}")
                async with http.post(base + path, data=body, headers=headers) as response:
                    assert (response.status, await response.text()) == (202, "accepted"), path
            body, headers = _delivery("W9")
            async with http.post(f"{base}{subscribed}/other", data=body, headers=headers) as r:
                assert r.status == 404
            async with http.get(base + subscribed) as response:
                assert response.status == 405
            unsigned = {"Content-Type": "application/json"}
            async with http.post(base + subscribed, data=body, headers=unsigned) as response:
                assert response.status == 401  # mounted, and still checking signatures
    finally:
        await runner.cleanup()
    assert [event.resource_perma_key for event in sink.events] == ["W0", "W1"]


@pytest.mark.parametrize("path", ["/", "/hooks", "/hooks/"])
async def test_standalone_app_answers_its_path_with_and_without_slash(path: str) -> None:
    sink = Sink()
    runner = web.AppRunner(wh.WebhookReceiver(KEY, sink).aiohttp_app(path), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    bare = path.rstrip("/")
    try:
        async with ClientSession() as http:
            for n, variant in enumerate(dict.fromkeys((bare or "/", f"{bare}/"))):
                body, headers = _delivery(f"S{n}")
                async with http.post(
                    f"http://{host}:{port}{variant}", data=body, headers=headers
                ) as r:
                    assert r.status == 202, variant
            async with http.post(f"http://{host}:{port}/elsewhere", data=b"{}") as response:
                assert response.status == 404
    finally:
        await runner.cleanup()
    assert len(sink.events) == len(dict.fromkeys((bare or "/", f"{bare}/")))


def test_aiohttp_app_refuses_a_relative_path() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        wh.WebhookReceiver(KEY, Sink()).aiohttp_app("hooks")
