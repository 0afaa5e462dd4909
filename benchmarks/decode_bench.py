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
  temporary directory (durable, as by default): everything an export does per record.

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
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
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


async def plain_loop(base_url: str, resource: str, loads: Callable[[bytes], Any]) -> int:
    items = 0
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer t"}) as session:
        url: str | None = f"{base_url}/v3/{RESOURCES[resource][0]}?$top={PAGE}"
        while url:
            async with session.get(url) as response:
                response.raise_for_status()
                document = loads(await response.read())
            for item in document["value"]:
                items += item is not None
            url = document.get("@odata.nextLink")
    return items


async def plain(base_url: str, resource: str) -> int:
    return await plain_loop(base_url, resource, json.loads)


async def orjson_loop(base_url: str, resource: str) -> int:
    import orjson  # a dev dependency: the baseline only

    return await plain_loop(base_url, resource, orjson.loads)


async def msgspec_loop(base_url: str, resource: str) -> int:
    import msgspec

    return await plain_loop(base_url, resource, msgspec.json.decode)


async def sdk(base_url: str, resource: str, view: str) -> int:
    import karbon_async as ka

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


async def typed(base_url: str, resource: str) -> int:
    return await sdk(base_url, resource, "")


async def raw(base_url: str, resource: str) -> int:
    return await sdk(base_url, resource, "raw")


async def json_texts(base_url: str, resource: str) -> int:
    return await sdk(base_url, resource, "json")


async def exporter(base_url: str, resource: str) -> int:
    import tempfile

    import karbon_async as ka
    from karbon_async.export import Account, Exporter

    limit = ka.RateLimit(1_000_000, 1.0)
    with tempfile.TemporaryDirectory(prefix="karbon-decode-") as out:
        run = Exporter([Account("a", "t", "k", base_url, limit)], [resource], out=out)
        report = await run.run()
        return report.records


SIDES = {
    "plain": plain,
    "orjson": orjson_loop,
    "msgspec": msgspec_loop,
    "typed": typed,
    "raw": raw,
    "json": json_texts,
    "exporter": exporter,
}


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
    sides = {name: fn for name, fn in SIDES.items() if name in args.sides.split(",")}
    out: dict[str, Any] = {"pages": args.pages, "items_per_page": PAGE, "rounds": args.rounds}
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
    """Decoding alone: ``structure`` per item of parsed pages (and ``json.loads`` for scale)."""
    from decimal import Decimal

    from karbon_async import models
    from karbon_async._converter import structure

    out: dict[str, Any] = {"items": PAGE * args.offline_pages, "rounds": args.rounds}
    for resource, (name, model_name) in RESOURCES.items():
        model = getattr(models, model_name)
        text = json.dumps([MAKERS[name](n) for n in range(PAGE * args.offline_pages)])
        items = json.loads(text, parse_float=Decimal)
        count = len(items)
        structure(items[0], model)  # compile/cache before timing
        loads, decode = [], []
        for _ in range(args.rounds):
            start = time.process_time()
            json.loads(text, parse_float=Decimal)
            loads.append((time.process_time() - start) / count * 1e6)
            start = time.process_time()
            for item in items:
                structure(item, model)
            decode.append((time.process_time() - start) / count * 1e6)
        out[resource] = {
            "structure_us_per_item": round(statistics.median(decode), 2),
            "json_loads_us_per_item": round(statistics.median(loads), 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--sides", default="plain,orjson,msgspec,typed,raw,json,exporter", help="which loops"
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
