"""A Karbon webhook worker: subscribe, receive, verify, fetch what changed, catch up after downtime.

Against any Karbon-compatible server (Karbon itself, ``karbon-async sandbox``, a FakeKarbon)::

    export KARBON_BEARER_TOKEN=... KARBON_ACCESS_KEY=... KARBON_BASE_URL=http://127.0.0.1:8080
    export KARBON_WEBHOOK_SIGNING_KEY=$(python -c "import secrets; print(secrets.token_hex(32))")
    python examples/webhook_worker.py --listen 127.0.0.1:8765 --types Work,Contact \\
        --public-url https://your-tunnel.example.com/karbon/webhooks

Without ``--public-url`` the TargetUrl is ``http://<listen>/karbon/webhooks``, which only a fake
server started with ``allow_insecure_webhooks=True`` accepts (Karbon requires https).

``--self-test`` needs nothing else: it starts an embedded FakeKarbon, subscribes, changes a work
item through the API and exits 0 once the signed webhook has arrived and the worker has fetched
the updated record.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

import karbon_async as ka
from karbon_async import webhooks as wh
from karbon_async.models import PatchWorkItemRequest

PATH = "/karbon/webhooks"
log = logging.getLogger("webhook_worker")


class Checkpoint:
    """The newest change this worker has handled, kept in a small JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.value: dt.datetime | None = None
        if path is not None and path.exists():
            stored = json.loads(path.read_text(encoding="utf-8")).get("last_change")
            self.value = dt.datetime.fromisoformat(stored) if stored else None

    def advance(self, stamp: dt.datetime | None) -> None:
        if stamp is not None and (self.value is None or stamp > self.value):
            self.value = stamp
            if self.path is not None:
                self.path.write_text(
                    json.dumps({"last_change": stamp.isoformat()}), encoding="utf-8"
                )


def build_router(checkpoint: Checkpoint, results: asyncio.Queue[str]) -> wh.Router:
    router = wh.Router()

    @router.on("Work", fetch=True)
    async def work_changed(event: wh.WebhookEvent, work_item: Any) -> None:
        if work_item is None:
            line = f"work {event.resource_perma_key} {event.action_type} (record gone)"
        else:
            line = (
                f"work {event.resource_perma_key} {event.action_type}: "
                f"{work_item.title!r} [{work_item.primary_status}] "
                f"description={work_item.description!r}"
            )
        print(line, flush=True)
        await results.put(line)
        checkpoint.advance(event.timestamp)

    @router.on("Contact", fetch=True)
    async def contact_changed(event: wh.WebhookEvent, record: Any) -> None:
        name = getattr(record, "full_name", None) if record is not None else None
        line = f"contact {event.resource_perma_key} {event.action_type}: {name!r}"
        print(line, flush=True)
        await results.put(line)
        checkpoint.advance(event.timestamp)

    @router.fallback
    async def anything_else(event: wh.WebhookEvent) -> None:
        line = f"{event.resource_type} {event.resource_perma_key} {event.action_type}"
        print(line, flush=True)
        await results.put(line)
        checkpoint.advance(event.timestamp)

    return router


async def catch_up(
    client: ka.KarbonClient, worker: wh.WebhookWorker, checkpoint: Checkpoint
) -> int:
    """Feed the worker what changed while nobody was listening: Contacts and Organizations
    newest-modified first, stopping at the checkpoint (minus Karbon's 60 s coalescing window).
    Work items have no LastModifiedDateTime: reconcile them with a full ``work_items.list``
    stream (or ``karbon-async export``) if you keep a copy of them."""
    if checkpoint.value is None:
        return 0  # first run: nothing to catch up on
    since = checkpoint.value - dt.timedelta(seconds=60)
    submitted = 0
    for listing in (client.contacts.list, client.organizations.list):
        async for summary in listing(orderby="LastModifiedDateTime desc"):
            stamp = summary.last_modified_date_time
            if stamp is None or stamp < since:
                break
            key = getattr(summary, "contact_key", None) or summary.organization_key
            event = wh.WebhookEvent(
                resource_perma_key=key,
                resource_type=wh.WebhookResourceType.CONTACT,
                action_type=wh.WebhookActionType.UPDATED,
                timestamp=stamp,
            )
            if worker.submit(event) == wh.SubmitOutcome.QUEUE_FULL:
                await worker.join()  # let the queue drain, then hand it over
                worker.submit(event)
            submitted += 1
    log.info("catch-up: %d change(s) since %s submitted", submitted, since.isoformat())
    return submitted


async def serve(args: argparse.Namespace, stop: asyncio.Event) -> int:
    signing_key = args.signing_key or os.environ.get("KARBON_WEBHOOK_SIGNING_KEY")
    if not signing_key:
        print("set KARBON_WEBHOOK_SIGNING_KEY or pass --signing-key", file=sys.stderr)
        return 2
    wh.validate_signing_key(signing_key)
    host, _, port = args.listen.rpartition(":")
    checkpoint = Checkpoint(Path(args.state_file) if args.state_file else None)
    results: asyncio.Queue[str] = asyncio.Queue()
    background: set[asyncio.Future[int]] = set()  # catch-up runs started by the keeper
    bearer_token = args.bearer_token or os.environ.get("KARBON_BEARER_TOKEN")
    access_key = args.access_key or os.environ.get("KARBON_ACCESS_KEY")
    if not bearer_token or not access_key:
        print("set KARBON_BEARER_TOKEN and KARBON_ACCESS_KEY (or pass them)", file=sys.stderr)
        return 2
    base_url = args.base_url or os.environ.get("KARBON_BASE_URL") or ka.DEFAULT_BASE_URL

    async with ka.KarbonClient(
        bearer_token=bearer_token, access_key=access_key, base_url=base_url
    ) as client:
        router = build_router(checkpoint, results)
        async with wh.WebhookWorker(router, client=client, concurrency=4) as worker:
            receiver = wh.WebhookReceiver(signing_key, worker)
            runner = web.AppRunner(receiver.aiohttp_app(PATH), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, int(port)).start()
            bound_host, bound_port = runner.addresses[0][:2]
            local_url = f"http://{bound_host}:{bound_port}{PATH}"
            print(f"listening on {local_url}", flush=True)
            target_url = args.public_url or local_url
            insecure = target_url.startswith("http://")
            try:
                keeper = wh.SubscriptionKeeper(
                    client,
                    args.types.split(","),
                    target_url,
                    signing_key,
                    allow_insecure_loopback=insecure,
                    on_recreated=lambda _: background.add(
                        asyncio.ensure_future(catch_up(client, worker, checkpoint))
                    ),
                )
                try:
                    for ensured in await keeper.check():
                        kind, action = ensured.webhook_type.value, ensured.action.value
                        print(f"subscription {kind}: {action}", flush=True)
                except ka.BadRequestError as error:
                    print(f"could not subscribe: {error}", file=sys.stderr)
                    if insecure:
                        print(
                            "an http:// TargetUrl needs a fake started with "
                            "allow_insecure_webhooks=True; otherwise pass --public-url https://...",
                            file=sys.stderr,
                        )
                    return 1
                await catch_up(client, worker, checkpoint)
                watchdog = asyncio.create_task(keeper.run(args.check_interval))
                try:
                    if args.exit_after:
                        for _ in range(args.exit_after):
                            await asyncio.wait_for(results.get(), args.timeout)
                    else:
                        await stop.wait()
                finally:
                    watchdog.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watchdog
            finally:
                await runner.cleanup()
        for letter in worker.dead_letters:
            print(f"dead letter: {letter.event} ({letter.reason}: {letter.error!r})")
    return 0


async def self_test(args: argparse.Namespace) -> int:
    """Everything on loopback against an embedded FakeKarbon."""
    from karbon_async.testing import FakeKarbon

    async with FakeKarbon(
        allow_insecure_webhooks=True, webhook_coalesce_window=0.0, size=20
    ) as fake:
        account = fake.accounts[0]
        args.base_url = fake.base_url
        args.bearer_token, args.access_key = account.bearer_token, account.access_key
        args.signing_key = args.signing_key or "self-test-signing-key-0123456789"
        args.types, args.exit_after = "Work", 1
        stop = asyncio.Event()
        served = asyncio.create_task(serve(args, stop))
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
        ) as client:
            while "Work" not in fake.webhook_subscriptions(0):
                if served.done():
                    return served.result()
                await asyncio.sleep(0.05)
            first = await client.work_items.list(page_size=1, max_items=1).pages().__anext__()
            key = first.items[0].work_item_key
            assert key is not None
            await client.work_items.patch(key, PatchWorkItemRequest(description="self-test change"))
        code = await served
        print("self-test passed" if code == 0 else "self-test failed", flush=True)
        return code


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", help="default: KARBON_BASE_URL or Karbon's")
    parser.add_argument("--bearer-token", help="default: KARBON_BEARER_TOKEN")
    parser.add_argument("--access-key", help="default: KARBON_ACCESS_KEY")
    parser.add_argument("--signing-key", help="default: KARBON_WEBHOOK_SIGNING_KEY")
    parser.add_argument("--listen", default="127.0.0.1:8765", help="host:port to serve on")
    parser.add_argument("--public-url", help="the TargetUrl Karbon posts to (https://...)")
    parser.add_argument("--types", default="Work,Contact", help="WebhookTypes, comma-separated")
    parser.add_argument("--state-file", help="where the catch-up checkpoint is kept")
    parser.add_argument("--check-interval", type=float, default=300.0)
    parser.add_argument("--exit-after", type=int, default=0, help="exit after N events")
    parser.add_argument("--timeout", type=float, default=30.0, help="per event, with --exit-after")
    parser.add_argument("--self-test", action="store_true")
    return parser.parse_args(argv)


async def amain(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.self_test:
        return await self_test(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return await serve(args, stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sys.exit(asyncio.run(amain()))
