"""Shared pieces of the per-operation tests against FakeKarbon."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import karbon_async as ka
from karbon_async.testing import FakeKarbon

T = TypeVar("T", bound=Callable[..., object])


def covers(*operation_ids: str) -> Callable[[T], T]:
    """Marks a test as exercising these operations (checked by test_operations_coverage)."""

    def mark(test: T) -> T:
        return test

    return mark


@asynccontextmanager
async def fake_client(size: int = 5) -> AsyncIterator[tuple[FakeKarbon, ka.KarbonClient]]:
    async with FakeKarbon(rate_limit=None, size=size) as fake:
        account = fake.accounts[0]
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            retry=ka.RetryPolicy(max_attempts=1),
        ) as client:
            yield fake, client


def key(fake: FakeKarbon, collection: str, index: int = 0) -> str:
    return fake.accounts[0].collection(collection).key_of(index)
