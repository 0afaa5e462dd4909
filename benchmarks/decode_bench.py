"""Client CPU per list item: a plain aiohttp + ``json.loads`` loop vs typed and raw SDK lists.

A minimal aiohttp server in a child process answers every page from bytes encoded before the
run (100 realistic ``ContactSummary`` or ``WorkItemSummary`` items and an ``@odata.nextLink``),
so the server's cost stays out of the measured process; FakeKarbon is not used here, its own
work would hide the client's. Measured in this process, with ``time.process_time``, rounds
interleaved, median reported, per item:

- ``plain``: aiohttp GET, ``json.loads``, follow ``@odata.nextLink``, touch every item;
- ``orjson``, ``msgspec``: the same loop parsing with ``orjson.loads`` or
  ``msgspec.json.decode`` (the floor of a Python-objects parse);
- ``typed``: ``async for`` over ``client.<resource>.list()`` (models built; rate limit raised
  so the budget never waits);
- ``raw``: ``async for`` over ``client.<resource>.list().raw()`` (dicts, as sent);
- ``json``: ``async for`` over ``client.<resource>.list().json()`` (each record's JSON text,
  nothing decoded: what the exporter fetches);
- ``exporter``: one ``Exporter`` over one account, that resource only, JSON Lines into a
  temporary directory (durable, as by default): everything an export does per record;
- ``read``, ``split``, ``split_write``: the floor under the exporter, without the SDK's layers:
  aiohttp GET and ``read()`` alone (the next link found by a byte search); then the body split
  into each record's JSON text (``_json_records.split_collection``, msgspec); then those texts
  appended as JSON Lines to one file (no fsync).

``--offline`` measures decoding alone (``structure`` of already-parsed items, no I/O), which
also runs against an older checkout (``PYTHONPATH=<checkout> python benchmarks/decode_bench.py
--offline``) to compare converters.

    python benchmarks/decode_bench.py --pages 100 --rounds 5
    python benchmarks/decode_bench.py --sides plain,orjson,msgspec,typed,exporter --rounds 5
    python benchmarks/decode_bench.py --offline
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

PAGE = 100
RESOURCES = {
    "contacts": ("Contacts", "ContactSummary"),
    "work_items": ("WorkItems", "WorkItemSummary"),
}


def contact(n: int) -> dict[str, Any]:
    return {
        "@odata.type": "#Karbon.Contact",
        "ContactKey": f"3kVbR{n:07d}",
        "FullName": f"Jordan Example {n}",
        "PreferredName": "Jordan" if n % 3 else None,
        "Salutation": "Mx",
        "ClientOwner": "owner@firm.example",
        "ClientManager": "manager@firm.example" if n % 2 else None,
        "Address": f"{n} Harbour Street, Wellington 6011",
        "EmailAddress": f"jordan{n}@client.example",
        "PhoneNumber": "+64 4 555 0100",
        "RoleOrTitle": "Director",
        "ContactType": "Client",
        "UserDefinedIdentifier": f"C-{n:05d}" if n % 4 else None,
        "LastModifiedDateTime": f"2026-11-{1 + n % 28:02d}T08:{n % 60:02d}:12.1234567Z",
    }


def work_item(n: int) -> dict[str, Any]:
    day = f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}"
    return {
        "WorkItemKey": f"4xWq{n:08d}",
        "AssigneeEmailAddress": "sam@firm.example",
        "AssigneeKey": "2mN8pQ7rS1",
        "AssigneeName": "Sam Accountant",
        "Title": f"FY26 Annual Accounts {n}",
        "ClientKey": f"3kVbR{n:07d}",
        "ClientName": f"Example Holdings {n} Ltd",
        "ClientType": ("Organization", "Contact", "ClientGroup")[n % 3],
        "ClientUserDefinedIdentifier": None,
        "RelatedClientGroupKey": "1gR7kLmN2p",
        "ClientGroupKey": "1gR7kLmN2p",
        "RelatedClientGroupName": "Example Group",
        "StartDate": f"{day}T00:00:00Z",
        "DueDate": f"{day}T17:00:00Z",
        "DeadlineDate": f"{day}T17:00:00.1234567Z" if n % 2 else None,
        "CompletedDate": None,
        "ToDoPeriod": f"{day}T00:00:00Z",
        "WorkType": "Annual Accounts",
        "WorkStatus": "In Progress - Waiting",
        "PrimaryStatus": ("In Progress", "Ready To Start", "Completed", "Planned")[n % 4],
        "SecondaryStatus": "Waiting on client",
        "WorkTemplateKey": "9tPl4Xc2Vb",
        "WorkTemplateTile": "Annual Accounts",
        "WorkScheduleKey": None,
        "EstimatedBudget": 1250.5 if n % 5 else None,
    }


MAKERS = {"Contacts": contact, "WorkItems": work_item}


# --- the page server (child process) ---------------------------------------------------------


async def serve(pages: int) -> None:
    bodies: dict[str, list[bytes]] = {}

    async def page(request: web.Request) -> web.Response:
        number = int(request.query.get("page", "0"))
        return web.Response(body=bodies[request.match_info["name"]][number])

    app = web.Application()
    app.router.add_get("/v3/{name}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    for name, make in MAKERS.items():
        bodies[name] = []
        for number in range(pages):
            document: dict[str, Any] = {"value": [make(number * PAGE + i) for i in range(PAGE)]}
            if number + 1 < pages:
                document["@odata.nextLink"] = f"{base}/v3/{name}?page={number + 1}"
            bodies[name].append(json.dumps(document).encode())
    print(json.dumps({"base_url": base}), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await runner.cleanup()


# --- the measured client (this process) ------------------------------------------------------


async def page_loop(
    base_url: str, resource: str, page: Callable[[bytes], tuple[int, str | None]]
) -> int:
    """aiohttp with nothing of the SDK: ``page`` handles each body and returns (items in it,
    the next link)."""
    items = 0
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session:
        url: str | None = f"{base_url}/v3/{RESOURCES[resource][0]}?$top={PAGE}"
        while url:
            async with session.get(url) as response:
                response.raise_for_status()
                body = await response.read()
            count, url = page(body)
            items += count
    return items


async def plain_loop(base_url: str, resource: str, loads: Callable[[bytes], Any]) -> int:
    def page(body: bytes) -> tuple[int, str | None]:
        document = loads(body)
        count = 0
        for item in document["value"]:
            count += item is not None
        return count, document.get("@odata.nextLink")

    return await page_loop(base_url, resource, page)


async def plain(base_url: str, resource: str) -> int:
    return await plain_loop(base_url, resource, json.loads)


async def orjson_loop(base_url: str, resource: str) -> int:
    import orjson  # a dev dependency: the baseline only

    return await plain_loop(base_url, resource, orjson.loads)


async def msgspec_loop(base_url: str, resource: str) -> int:
    import msgspec

    return await plain_loop(base_url, resource, msgspec.json.decode)


NEXT_LINK = b'"@odata.nextLink": "'


def _next_link(body: bytes) -> tuple[int, str | None]:
    at = body.rfind(NEXT_LINK)
    if at < 0:
        return PAGE, None
    start = at + len(NEXT_LINK)
    return PAGE, body[start : body.index(b'"', start)].decode()


async def read_loop(base_url: str, resource: str) -> int:
    return await page_loop(base_url, resource, _next_link)


async def split_loop(base_url: str, resource: str) -> int:
    from karbon_async._json_records import split_collection

    def page(body: bytes) -> tuple[int, str | None]:
        texts, next_link, _ = split_collection(body)
        return len(texts), next_link

    return await page_loop(base_url, resource, page)


async def split_write_loop(base_url: str, resource: str) -> int:
    from karbon_async._json_records import split_collection

    with tempfile.TemporaryDirectory(prefix="karbon-decode-") as out:
        fd = os.open(Path(out) / "records.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:

            def page(body: bytes) -> tuple[int, str | None]:
                texts, next_link, _ = split_collection(body)
                os.write(fd, b"\n".join(texts) + b"\n")
                return len(texts), next_link

            return await page_loop(base_url, resource, page)
        finally:
            os.close(fd)


PACKAGE = "karbon_async"
"""The SDK measured; ``--baseline`` adds the same sides for an older checkout, renamed."""


async def sdk(base_url: str, resource: str, view: str, package: str) -> int:
    ka = importlib.import_module(package)
    items = 0
    async with ka.KarbonClient(
        bearer_token="t",
        access_key="k",
        base_url=base_url,
        rate_limit=ka.RateLimit(1_000_000, 1.0),
    ) as client:
        paginator = getattr(client, resource).list(page_size=PAGE)
        async for item in getattr(paginator, view)() if view else paginator:
            items += item is not None
    return items


async def exporter(base_url: str, resource: str, package: str) -> int:
    ka = importlib.import_module(package)
    export = importlib.import_module(f"{package}.export")
    limit = ka.RateLimit(1_000_000, 1.0)
    with tempfile.TemporaryDirectory(prefix="karbon-decode-") as out:
        account = export.Account("a", "t", "k", base_url, limit)
        report = await export.Exporter([account], [resource], out=out).run()
        return int(report.records)


Side = Callable[[str, str], Awaitable[int]]


def sdk_sides(package: str, suffix: str = "") -> dict[str, Side]:
    def view(name: str) -> Side:
        return lambda base, resource: sdk(base, resource, name, package)

    return {
        "typed" + suffix: view(""),
        "raw" + suffix: view("raw"),
        "json" + suffix: view("json"),
        "exporter" + suffix: lambda base, resource: exporter(base, resource, package),
    }


SIDES: dict[str, Side] = {
    "plain": plain,
    "orjson": orjson_loop,
    "msgspec": msgspec_loop,
    "read": read_loop,
    "split": split_loop,
    "split_write": split_write_loop,
    **sdk_sides(PACKAGE),
}


def load_baseline(checkout: str) -> str:
    """An older checkout's ``karbon_async`` importable beside this one, as
    ``karbon_baseline`` (a renamed copy in a temporary directory): both are then measured in
    one process, their rounds interleaved, so the machine's load falls on both alike."""
    target = Path(tempfile.mkdtemp(prefix="karbon-baseline-"))
    shutil.copytree(Path(checkout) / "karbon_async", target / "karbon_baseline")
    for path in (target / "karbon_baseline").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("karbon_async", "karbon_baseline"), encoding="utf-8")
    sys.path.insert(0, str(target))
    return "karbon_baseline"


async def cpu_per_item(fn: Callable[[str, str], Awaitable[int]], base: str, resource: str) -> float:
    start = time.process_time()
    items = await fn(base, resource)
    return (time.process_time() - start) / items * 1e6


async def online(args: argparse.Namespace) -> dict[str, Any]:
    server = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, __file__, "--serve", "--pages", str(args.pages)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    base = json.loads(await asyncio.to_thread(server.stdout.readline))["base_url"]
    wanted = args.sides.split(",")
    sides = {name: fn for name, fn in SIDES.items() if name in wanted}
    if args.baseline:
        baseline = sdk_sides(load_baseline(args.baseline), " (baseline)")
        sides |= {name: fn for name, fn in baseline.items() if name.split()[0] in wanted}
    out: dict[str, Any] = {
        "pages": args.pages,
        "items_per_page": PAGE,
        "rounds": args.rounds,
        "load_avg_before": round(os.getloadavg()[0], 2),
    }
    try:
        for resource in RESOURCES:
            for fn in sides.values():  # warm connections, caches and compiled decoders
                await fn(base, resource)
            runs: dict[str, list[float]] = {name: [] for name in sides}
            for _ in range(args.rounds):
                for name, fn in sides.items():
                    runs[name].append(await cpu_per_item(fn, base, resource))
            medians = {name: statistics.median(values) for name, values in runs.items()}
            out[resource] = {
                name: {
                    "cpu_us_per_item": round(value, 2),
                    "ratio_to_plain": round(value / medians["plain"], 2)
                    if "plain" in medians
                    else None,
                }
                for name, value in medians.items()
            }
    finally:
        server.stdin.close()
        await asyncio.to_thread(server.wait)
    return out


def offline(args: argparse.Namespace) -> dict[str, Any]:
    """A typed page without I/O: the body parsed (``json_document``) and its items decoded
    (``decode_each``), per item; ``json.loads`` of the same body for scale; with
    ``--baseline``, the older checkout's same two steps, rounds interleaved."""
    packages = [PACKAGE] + ([load_baseline(args.baseline)] if args.baseline else [])
    out: dict[str, Any] = {
        "items_per_page": PAGE,
        "pages": args.offline_pages,
        "rounds": args.rounds,
        "load_avg_before": round(os.getloadavg()[0], 2),
    }
    for resource, (name, model_name) in RESOURCES.items():
        bodies = [
            json.dumps({"value": [MAKERS[name](n * PAGE + i) for i in range(PAGE)]}).encode()
            for n in range(args.offline_pages)
        ]
        sides: dict[str, Callable[[bytes], Any]] = {"json.loads": json.loads}
        for package in packages:
            sender = importlib.import_module(f"{package}._sender")
            converter = importlib.import_module(f"{package}._converter")
            model = getattr(importlib.import_module(f"{package}.models"), model_name)

            def typed_page(body: bytes, s: Any = sender, c: Any = converter, m: Any = model) -> Any:
                return c.decode_each(s.json_document(body)["value"], m)

            sides[package] = typed_page
        runs: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, parse in sides.items():
                start = time.process_time()
                for body in bodies:
                    parse(body)
                runs[side].append((time.process_time() - start) / (PAGE * len(bodies)) * 1e6)
        medians = {side: statistics.median(values) for side, values in runs.items()}
        out[resource] = {
            side: {
                "cpu_us_per_item": round(value, 2),
                "ratio_to_json_loads": round(value / medians["json.loads"], 2),
            }
            for side, value in medians.items()
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--sides", default="plain,orjson,msgspec,typed,raw,json,exporter", help="which loops"
    )
    parser.add_argument(
        "--baseline", help="also measure the karbon_async of this checkout (before/after)"
    )
    parser.add_argument("--offline", action="store_true", help="decoding alone, no I/O")
    parser.add_argument("--offline-pages", type=int, default=50)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.pages))
    elif args.offline:
        print(json.dumps(offline(args), indent=1))
    else:
        print(json.dumps(asyncio.run(online(args)), indent=1))


if __name__ == "__main__":
    main()
