"""Every ```python block of README.md and docs/*.md runs here against one FakeKarbon.

A block runs as written, standalone: it imports what it uses and opens its own client. The
harness gives it only what a reader has in hand: credentials and FakeKarbon's base URL, as
``KARBON_BEARER_TOKEN``/``KARBON_ACCESS_KEY``/``KARBON_BASE_URL`` (``KarbonClient.from_env()``)
and as the names ``bearer_token``, ``access_key`` and ``base_url``, plus a webhook signing key
(``KARBON_WEBHOOK_SIGNING_KEY``) and, for a block that names ``redis_url``, a Redis server's
URL. A block with a top-level ``await``/``async with``/``async for`` runs as the body of a
coroutine on the test's loop; any other block runs in a worker thread, so its own
``asyncio.run(main())`` works. A block that cannot run is marked
``<!-- docs-test: skip — reason -->`` on the line above it. ``<!-- readme-test: NAME -->`` names
a block for a test of its own that checks what it did (a block defining a function to call).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import datetime as dt
import inspect
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from redis_server import RedisServer, redis_server  # noqa: F401  (a fixture)

import karbon_async as ka
from karbon_async import models as m
from karbon_async import webhooks as wh
from karbon_async.testing import FakeKarbon

ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```[ \t]*(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"<!--\s*(docs-test|readme-test):\s*(.*?)\s*-->")
SKIP = re.compile(r"skip\s*(?:—|--|-|:)\s*(\S.*)")
PYTHON_TAGS = {"python", "py", "python3", "pycon"}
SIGNING_KEY = "docs-example-signing-key-0123456789"


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the first code line, 1-based
    code: str
    marker: tuple[str, str] | None

    @property
    def id(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        if self.marker is None or self.marker[0] != "docs-test":
            return None
        match = SKIP.fullmatch(self.marker[1])
        return match.group(1) if match else None

    @property
    def name(self) -> str | None:
        return self.marker[1] if self.marker and self.marker[0] == "readme-test" else None


def python_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for fence in FENCE.finditer(text):
        if fence.group(1).lower() not in PYTHON_TAGS:
            continue
        before = text[: fence.start()].rstrip().rsplit("\n", 1)[-1]
        marker = MARKER.fullmatch(before.strip())
        blocks.append(
            Block(
                path=path,
                line=text.count("\n", 0, fence.start()) + 2,
                code=fence.group(2),
                marker=(marker.group(1), marker.group(2)) if marker else None,
            )
        )
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in DOCUMENTS for block in python_blocks(path)]


def compile_block(block: Block) -> Any:
    # Padding keeps the document's line numbers in tracebacks.
    source = "\n" * (block.line - 1) + block.code
    return compile(source, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def run_block(block: Block, namespace: dict[str, Any]) -> None:
    code = compile_block(block)
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)
    else:
        await asyncio.to_thread(exec, code, namespace)


# --------------------------------------------------------------------------- the harness


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake() -> AsyncIterator[FakeKarbon]:
    async with FakeKarbon(rate_limit=None, size=12) as server:
        yield server


@pytest.fixture
def environment(fake: FakeKarbon, monkeypatch: pytest.MonkeyPatch) -> None:
    account = fake.accounts[0]
    monkeypatch.setenv("KARBON_BEARER_TOKEN", account.bearer_token)
    monkeypatch.setenv("KARBON_ACCESS_KEY", account.access_key)
    monkeypatch.setenv("KARBON_BASE_URL", fake.base_url)
    monkeypatch.setenv("KARBON_WEBHOOK_SIGNING_KEY", SIGNING_KEY)


def harness_names(fake: FakeKarbon) -> dict[str, Any]:
    """Credentials and the base URL: all a block is given (the environment says the same)."""
    account = fake.accounts[0]
    return {
        "bearer_token": account.bearer_token,
        "access_key": account.access_key,
        "base_url": fake.base_url,
    }


@ON_MODULE_LOOP
@pytest.mark.parametrize("block", all_blocks(), ids=lambda block: block.id)
async def test_block_runs(
    block: Block,
    fake: FakeKarbon,
    environment: None,
    request: pytest.FixtureRequest,
) -> None:
    if block.skip_reason is not None:
        pytest.skip(block.skip_reason)
    namespace = {"__name__": f"docs_block_{block.line}", **harness_names(fake)}
    if "redis_url" in block.code:
        server: RedisServer = request.getfixturevalue("redis_server")
        namespace["redis_url"] = server.url
    try:
        await run_block(block, namespace)
    finally:
        # A subscription a block made must not outlive it: FakeKarbon would POST to its URL.
        account = fake.accounts[0]
        for webhook_type in fake.webhook_subscriptions(account):
            fake.cancel_webhook_subscription(account, webhook_type)


def free_names(code: str) -> set[str]:
    """Names a block reads but neither imports, assigns nor defines (nor are builtins)."""
    tree = ast.parse(code)
    bound: set[str] = set(dir(builtins))
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return read - bound


@pytest.mark.parametrize("block", all_blocks(), ids=lambda block: block.id)
def test_a_block_imports_what_it_uses(block: Block) -> None:
    given = {"bearer_token", "access_key", "base_url", "redis_url"}
    assert free_names(block.code) <= given, "import or define these in the block"


def test_free_names_finds_a_missing_import() -> None:
    assert free_names("import karbon_async as ka\nka.F\nwhen = dt.date.today()\n") == {"dt"}
    assert free_names("def f(x):\n    return x\ntry:\n    f(1)\nexcept E as e:\n    e\n") == {"E"}


# --------------------------------------------------------------------------- the collector


def test_every_python_fence_is_collected() -> None:
    """No block escapes the collector by being written another way (indented, ```py, ...)."""
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        opening = re.findall(r"^[ \t]*```[ \t]*(?:python3?|py|pycon)\b", text, re.M | re.I)
        assert len(opening) == len(python_blocks(path)), path.name


def test_markers_are_known_and_skips_give_a_reason() -> None:
    for path in DOCUMENTS:
        for kind, value in MARKER.findall(path.read_text(encoding="utf-8")):
            if kind == "docs-test":
                assert SKIP.fullmatch(value), f"{path.name}: docs-test marker {value!r}"
    marked = [block for block in all_blocks() if block.marker is not None]
    assert all(block.skip_reason or block.name for block in marked)
    skipped = [block.id for block in all_blocks() if block.skip_reason]
    assert len(skipped) <= 1, f"skips should be rare: {skipped}"


def test_the_collector_reads_markers_and_line_numbers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n\n<!-- docs-test: skip — needs a live account -->\n```python\nx = 1\n```\n"
        "```sh\nls\n```\n<!-- readme-test: named -->\n```py\nawait y\n```\n",
        encoding="utf-8",
    )
    first, second = python_blocks(doc)
    assert (first.line, first.code, first.skip_reason) == (5, "x = 1\n", "needs a live account")
    assert (second.line, second.name, second.skip_reason) == (12, "named", None)


@ON_MODULE_LOOP
async def test_a_failing_block_names_its_document_line(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# t\n\n```python\nx = 1\nasync with y:\n    pass\n```\n", encoding="utf-8")
    (block,) = python_blocks(doc)
    with pytest.raises(NameError) as caught:
        await run_block(Block(doc, block.line, block.code, None), {})
    assert caught.traceback[-1].lineno + 1 == 5


# --------------------------------------------------------------------------- named blocks


def named_block(name: str) -> Block:
    (block,) = [block for block in all_blocks() if block.name == name]
    return block


@ON_MODULE_LOOP
async def test_invoices_block(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_invoices"}
    await run_block(named_block("invoices"), namespace)
    flow = namespace["invoice_flow"]
    # A FakeKarbon of its own: the flow pays an invoice, which the module's fake keeps.
    async with FakeKarbon(rate_limit=None, size=100) as fake:
        account = fake.accounts[0]
        invoices = account.collection("Invoices")
        before = {
            invoices.key_of(i): invoices.get(invoices.key_of(i)) for i in range(invoices.count)
        }
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            retry=ka.RetryPolicy(max_attempts=1),
        ) as client:
            await flow(client)
        after = {key: invoices.get(key) for key in before}
    out = capsys.readouterr().out
    changed = [key for key in before if before[key] != after[key]]
    assert len(changed) == 1, "one invoice was paid and the payment reversed"
    old, new = before[changed[0]], after[changed[0]]
    assert old is not None
    assert new is not None
    assert new["TotalAmountDue"] == old["TotalAmountDue"]
    assert new["InvoiceStatus"] == "AwaitingPayment"
    reversed_payment = new["Payments"][-1]
    assert reversed_payment["PaymentType"] == "ManualPaymentReversed"
    assert Decimal(str(reversed_payment["Amount"])) == min(
        Decimal(str(old["TotalAmountDue"])), Decimal("100.00")
    )
    assert f"{new['InvoiceNumber']} tax on {m.TaxLocation(new['TaxLocation'])}" in out
    approved = sorted(
        (r for r in before.values() if r is not None and r["InvoiceStatus"] == "Approved"),
        key=lambda r: r["InvoiceDate"],
        reverse=True,
    )[:5]
    assert approved
    printed = [line.split()[0] for line in out.splitlines()[: len(approved)]]
    assert printed == [r["InvoiceNumber"] for r in approved]


@ON_MODULE_LOOP
async def test_catch_up_block(fake: FakeKarbon) -> None:
    namespace: dict[str, Any] = {"__name__": "readme_catch_up"}
    await run_block(named_block("catch-up"), namespace)
    catch_up = namespace["catch_up"]
    account = fake.accounts[0]
    contacts = account.collection("Contacts")
    records = [contacts.get(contacts.key_of(i)) or {} for i in range(contacts.count)]
    changed = {r["ContactKey"]: r["LastModifiedDateTime"][:19] for r in records}
    newest = max(changed.values())
    checkpoint = dt.datetime.fromisoformat(newest).replace(tzinfo=dt.timezone.utc)
    router = wh.Router()
    handled: list[wh.WebhookEvent] = []

    @router.fallback
    async def record(event: wh.WebhookEvent) -> None:
        handled.append(event)

    async with (
        ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
        ) as client,
        wh.WebhookWorker(router, client=client) as worker,
    ):
        await catch_up(client, worker, checkpoint)
    since = (checkpoint - dt.timedelta(seconds=60)).isoformat()[:19]
    expected = {key for key, when in changed.items() if when >= since}
    assert expected
    assert {event.resource_perma_key for event in handled} == expected
    assert {event.action_type for event in handled} == {wh.WebhookActionType.UPDATED}
