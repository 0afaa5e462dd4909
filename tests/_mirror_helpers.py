"""Karbon-side changes made in FakeKarbon, and the check that a mirror holds what the fake does."""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
from decimal import Decimal
from typing import Any

from karbon_async import mirror as mr
from karbon_async.testing import FakeKarbon

COLLECTIONS = {"contacts": "Contacts", "work-items": "WorkItems", "organizations": "Organizations"}
WEBHOOK = {"contacts": ("Contact", "Contact"), "organizations": ("Contact", "Contact"),
           "work-items": ("Work", "Work")}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def karbon_side_change(fake: FakeKarbon, rng: random.Random, account: int) -> str:
    """One random create, update or delete made in Karbon, with the event Karbon would send."""
    acct = fake.accounts[account]
    resource = rng.choice(sorted(COLLECTIONS))
    store = acct.collection(COLLECTIONS[resource])
    keys = list(store.keys())
    webhook_type, resource_type = WEBHOOK[resource]
    now = dt.datetime.now(dt.timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    roll = rng.random()
    if roll < 0.15 and len(keys) > 3:
        key = rng.choice(keys)
        store.delete(key)
        action = "Deleted"
    elif roll < 0.3:
        template = store.get(keys[0]) if keys else {}
        assert template is not None
        key = store.create({**template, "LastModifiedDateTime": stamp})
        action = "Inserted"
    else:
        key = rng.choice(keys)
        record = store.get(key)
        assert record is not None
        field = "Description" if resource == "work-items" else "LastModifiedDateTime"
        record[field] = f"changed {rng.random()}" if field == "Description" else stamp
        if resource != "work-items":
            record["LastModifiedDateTime"] = stamp
        store.put(key, record)
        action = "Updated"
    fake.record_change(acct, webhook_type, resource_type, action, key, {})
    return action


async def converged(fake: FakeKarbon, mirror: mr.Mirror, names: list[str]) -> list[str]:
    """What still differs between the fake and the mirror (empty when converged)."""
    problems = []
    for index, name in enumerate(names):
        for resource_name, collection in COLLECTIONS.items():
            resource = mr.MIRROR_RESOURCES[resource_name]
            rows = await mirror.store.records(name, resource)
            live = {k: v for k, v in rows.items() if v is not None}
            store = fake.accounts[index].collection(collection)
            expected = set(store.keys())
            if set(live) != expected:
                problems.append(
                    f"{name}/{resource_name}: {len(set(live) - expected)} extra, "
                    f"{len(expected - set(live))} missing"
                )
                continue
            for key in expected:
                summary = store.summary(key)
                assert summary is not None
                # Every listed field as Karbon has it now (JSON-normalised: numbers compare).
                same = resource.same_value
                wrong = [
                    f for f in summary if not same(f, _norm(live[key].get(f)), _norm(summary[f]))
                ]
                if wrong:
                    problems.append(f"{name}/{resource_name}/{key}: {wrong}")
    return problems


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str), parse_float=Decimal)
