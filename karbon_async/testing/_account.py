"""One tenant of the fake: credentials, data, what arrived for it, and its uploaded files."""

from __future__ import annotations

import json
import random
import uuid
from collections import deque
from typing import Any

import attrs

from karbon_async._limits import RateLimit

from ._data import AccountData
from ._keys import b64url
from ._ratelimit import SlidingWindow, max_in_window
from ._store import CollectionStore

__all__ = ["FakeAccount", "StoredFile"]

LOG_LIMIT = 100_000


@attrs.define
class StoredFile:
    """An uploaded file: its metadata, bytes and the entity it is attached to."""

    key: str
    name: str
    mime_type: str
    data: bytes
    entity_type: str
    entity_key: str
    created: str
    archived: bool = False
    extra_links: list[tuple[str, str]] = attrs.field(factory=list)


class FakeAccount:
    """One Karbon tenant of the fake: its credentials, its data and what arrived for it."""

    def __init__(
        self, index: int, data: AccountData, rng: random.Random, rate_limit: RateLimit | None
    ) -> None:
        self.index = index
        self.data = data
        self.name = f"{data.firm} ({index})"
        self.bearer_token = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        header = b64url(b'{"alg":"HS256","typ":"JWT"}')
        claims = json.dumps({"tenant": data.tenant_key, "app": f"fake-{index}"}).encode()
        self.access_key = f"{header}.{b64url(claims)}.{b64url(rng.randbytes(32))}"
        self.rate_limit = rate_limit
        self._window = (
            SlidingWindow(rate_limit.requests, rate_limit.per) if rate_limit is not None else None
        )
        self.arrivals: list[float] = []
        """``time.monotonic()`` of every request that arrived for this account, in order."""
        self.requests = 0
        self.rejected_429 = 0
        """429s sent to this account: window rejections and injected rate-limit faults."""
        self.request_log: deque[tuple[float, str, str]] = deque(maxlen=LOG_LIMIT)
        """(monotonic time, method, path with query) of recent requests."""
        self.webhooks: dict[str, dict[str, str | None]] = {}
        self.custom_field_values: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, StoredFile] = {}
        self._writing: set[str] = set()

    @property
    def headers(self) -> dict[str, str]:
        """The two headers every request for this account must carry."""
        return {"Authorization": f"Bearer {self.bearer_token}", "AccessKey": self.access_key}

    def max_in_window(self, per: float | None = None) -> int:
        """Most arrivals (accepted or not) in any window ``(t - per, t]``.

        ``per`` defaults to the fake's rate-limit period. A client that keeps this at or under
        the limit never caused a 429 by itself.
        """
        if per is None:
            per = self.rate_limit.per if self.rate_limit is not None else 60.0
        return max_in_window(self.arrivals, per)

    def admit(self, now: float) -> int | None:
        """Judge an arrival at ``now`` against the rate limit: None, or the Retry-After seconds."""
        return None if self._window is None else self._window.admit(now)

    def begin_write(self, path: str) -> bool:
        """Claim ``path`` for a write; False while another write to it is in flight."""
        if path in self._writing:
            return False
        self._writing.add(path)
        return True

    def end_write(self, path: str) -> None:
        self._writing.discard(path)

    def collection(self, name: str) -> CollectionStore:
        """This account's data for collection ``name`` (e.g. "Contacts")."""
        return self.data.store(name)

    def __repr__(self) -> str:
        return f"FakeAccount(index={self.index}, name={self.name!r}, requests={self.requests})"
