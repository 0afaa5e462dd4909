"""The per-page fast paths (issue 24) give exactly what the long ways give: the page parse,
the compiled decoders' key test, the origin check of links, the budget state file's appends;
and the collector is tuned by itself while many listings run, and put back afterwards."""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _loopback import Loopback, loopback
from aiohttp import web
from hypothesis import example, given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import _gc
from karbon_async import models as m
from karbon_async._converter import _converter, _decoder
from karbon_async._sender import json_document
from karbon_async._urls import ensure_same_origin, origin_of
from karbon_async.export import _state

# --- the page parse: msgspec, giving what json.loads gives --------------------------------


def _loads(body: bytes | str) -> Any:
    return json.loads(body, parse_float=Decimal)


def _outcome(parse: Any, body: bytes | str) -> str:
    """repr of the result (types of numbers included), or the error's type."""
    try:
        return repr(parse(body))
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f"error {type(exc).__name__}"


_numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)
_json_texts = st.recursive(
    st.one_of(
        _numbers,
        st.text().map(json.dumps),
        st.text().map(lambda text: json.dumps(text, ensure_ascii=False)),
        st.sampled_from(["true", "false", "null", "NaN", "-Infinity", '"\\ud800"']),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(st.text(max_size=3).map(json.dumps), inner), max_size=4).map(
            lambda pairs: "{" + ",".join(f"{key}:{value}" for key, value in pairs) + "}"
        ),
    ),
    max_leaves=12,
)


@given(_json_texts, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "str"]))
@example('{"a": 1.10, "b": [1e400, -0.0, 12345678901234567890]}', "utf-8")
@example('{"a": 1, "a": 2}', "utf-8")
@example('{"a": "\x00"}', "utf-8")
@example('{"a": 1} x', "utf-8")
def test_a_page_parses_exactly_as_json_loads_with_decimals(text: str, encoding: str) -> None:
    body: bytes | str = text if encoding == "str" else text.encode(encoding, "surrogatepass")
    assert _outcome(json_document, body) == _outcome(_loads, body)


@pytest.mark.parametrize("body", [b'{"a": "\xff"}', b"", b"{", b'{"a":1}\x00'])
def test_a_body_that_is_not_json_fails_as_json_loads_fails(body: bytes) -> None:
    assert _outcome(json_document, body) == _outcome(_loads, body)
    assert _outcome(json_document, body).startswith("error")


# --- the compiled decoders: unknown keys told by the count of known ones -------------------


def test_unknown_and_respelled_keys_decode_without_the_converter() -> None:
    decode = _decoder(m.ContactSummary)
    assert decode is not None
    documents = [
        {"ContactKey": "k1", "FullName": "A"},
        {"ContactKey": "k1", "FullName": "A", "Brand new": [1, {"x": None}]},
        {"contactkey": "k1", "fullNAME": "A", "zz": 1},  # a required key in another case
        {"ContactKey": "k1", "contactkey": "k2"},  # both spellings: the other one is extra
    ]
    for document in documents:
        fast = decode(document)  # no Fallback: the compiled decoder handles all of these
        assert fast == _converter.structure(document, m.ContactSummary)
    assert decode(documents[1]).extra == {"Brand new": [1, {"x": None}]}
    assert decode(documents[2]).contact_key == "k1"
    assert decode(documents[2]).extra == {"zz": 1}
    assert decode(documents[3]).extra == {"contactkey": "k2"}


def test_a_missing_required_key_still_goes_to_the_converter() -> None:
    decode = _decoder(m.ContactSummary)
    assert decode is not None
    with pytest.raises(Exception):  # noqa: B017 - the private Fallback: the converter decides
        decode({"FullName": "A", "Other": 1})
    with pytest.raises(ka.ModelDecodeError, match="ContactKey"):
        ka.structure({"FullName": "A", "Other": 1}, m.ContactSummary)


# --- the origin check of links: the plain prefix answers as origin_of does ------------------

ORIGINS = [  # (scheme, host as written, the port of the configured base URL)
    ("https", "api.karbonhq.com", ""),
    ("http", "127.0.0.1", ":8080"),
    ("http", "[::1]", ":8080"),
]
_suffixes = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="/@\\:?#%[]. \t\x00abc", max_size=12),
)


def _long_way(url: str, origin: tuple[str, str, int]) -> bool:
    try:
        return origin_of(url) == origin
    except ka.UnsafeURLError:
        return False


@given(
    st.sampled_from(ORIGINS),
    st.sampled_from(["", ":443", ":8080", ":80", ":0", ":8080@evil.test", ".evil.test"]),
    _suffixes,
)
@example(("http", "[::1]", ":8080"), ":8080", "/v3/Contacts")
@example(("https", "api.karbonhq.com", ""), "", "/v3/Contacts?$skip=100")
@example(("https", "api.karbonhq.com", ""), ":443", "/x\t")
@example(("https", "api.karbonhq.com", ""), "", "[")  # urlsplit's ValueError: refused too
def test_the_origin_check_answers_as_the_long_way(
    where: tuple[str, str, str], port: str, suffix: str
) -> None:
    scheme, host, base_port = where
    origin = origin_of(f"{scheme}://{host}{base_port}")
    for url in (f"{scheme}://{host}{port}{suffix}", f"{scheme}://{host}{port}/{suffix}"):
        try:
            accepted = ensure_same_origin(url, origin) == url
        except ka.UnsafeURLError:
            accepted = False
        assert accepted == _long_way(url, origin), url


# --- the budget state file: one write a request, a failed one cut back exactly -------------


async def test_a_budget_state_file_writes_once_a_request_and_releases_by_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "budget.log"
    budget = ka.BudgetStateFile(path, ka.RateLimit(10, 60))
    await (await budget.acquire()).release()  # opens the file
    writes: list[bytes] = []
    real_write = os.write

    def counted(fd: int, data: Any) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    for _ in range(3):
        await (await budget.acquire()).release()
    # Each send's record carries the release before it: s1 alone would be two writes.
    assert [w.split()[::3] for w in writes] == [[b"r", b"s"]] * 3
    assert [w.split()[1::3] for w in writes] == [[b"0", b"1"], [b"1", b"2"], [b"2", b"3"]]
    assert path.read_bytes().count(b"\n") == 7  # the last release waits for the next send
    budget.close()
    assert path.read_bytes().count(b"\n") == 8
    assert path.read_bytes().splitlines()[-1].startswith(b"r 3 ")


async def test_a_failed_budget_state_write_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "budget.log"
    budget = ka.BudgetStateFile(path, ka.RateLimit(10, 60))
    for _ in range(3):
        await (await budget.acquire()).release()
    before = path.read_bytes()
    assert before.count(b"\n") == 5  # the last release goes with the next send
    assert before.startswith(b"s 0 ")
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(ka.LocalWriteError):
        await budget.acquire()
    monkeypatch.undo()
    assert path.read_bytes() == before  # no torn record for the next process to read
    await (await budget.acquire()).release()  # and the next record lands after it
    after = path.read_bytes()
    assert after.startswith(before)
    assert after[len(before) :].count(b"\n") == 2
    budget.close()


# --- the collector, tuned by itself while many listings run ----------------------------------


def _held_pages(release: asyncio.Event) -> Any:
    """Page 1 at once; page 2 (the last) once ``release`` is set."""

    async def handler(request: web.Request) -> web.Response:
        if request.query.get("$skip"):
            await release.wait()
            return web.json_response({"value": [{"ContactKey": "b"}]})
        server_url = f"{request.scheme}://{request.host}"
        return web.json_response(
            {
                "value": [{"ContactKey": "a"}],
                "@odata.nextLink": f"{server_url}/v3/Contacts?$skip=1",
            }
        )

    return handler


async def _listings(server: Loopback, release: asyncio.Event, count: int) -> list[int]:
    """Run ``count`` listings at once; once each has its first item, report the collector's
    young threshold and let them finish; then return each listing's item count."""
    async with ka.KarbonClient(bearer_token="t", access_key="k", base_url=server.base_url) as c:
        started = 0
        all_started = asyncio.Event()

        async def one() -> int:
            nonlocal started
            items = 0
            async for _ in c.contacts.list():
                items += 1
                if items == 1:
                    started += 1
                    if started == count:
                        all_started.set()
            return items

        tasks = [asyncio.ensure_future(one()) for _ in range(count)]
        await all_started.wait()
        thresholds.append(gc.get_threshold())
        frozen.append(gc.get_freeze_count())
        release.set()
        return await asyncio.gather(*tasks)


thresholds: list[tuple[int, ...]] = []
frozen: list[int] = []


@pytest.fixture
def collector() -> Any:
    """The collector's settings are the process's: as they were after every test."""
    saved = gc.get_threshold()
    thresholds.clear()
    frozen.clear()
    yield saved
    ka.auto_gc(True)
    gc.set_threshold(*saved)
    assert _gc._auto.listings == 0
    assert not _gc._auto.engaged
    assert not _gc._gc_saved


async def test_many_listings_at_once_tune_the_collector_and_put_it_back(
    collector: tuple[int, ...],
) -> None:
    gc.set_threshold(700, 10, 10)
    release = asyncio.Event()
    async with loopback(_held_pages(release)) as server:
        assert await _listings(server, release, _gc.AUTO_GC_LISTINGS) == [2] * 16
    assert thresholds == [(_gc.GC_GEN0_THRESHOLD, 10, 10)]
    assert frozen[0] > 0
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0


async def test_a_few_listings_or_auto_gc_off_leave_the_collector_alone(
    collector: tuple[int, ...],
) -> None:
    gc.set_threshold(700, 10, 10)
    async with loopback(_held_pages(release := asyncio.Event())) as server:
        await _listings(server, release, _gc.AUTO_GC_LISTINGS - 1)
    ka.auto_gc(False)
    async with loopback(_held_pages(release := asyncio.Event())) as server:
        await _listings(server, release, _gc.AUTO_GC_LISTINGS + 4)
    assert thresholds == [(700, 10, 10), (700, 10, 10)]
    assert frozen == [0, 0]


async def test_listings_broken_off_early_release_the_tuning(
    collector: tuple[int, ...],
) -> None:
    gc.set_threshold(700, 10, 10)
    release = asyncio.Event()
    async with (
        loopback(_held_pages(release)) as server,
        ka.KarbonClient(bearer_token="t", access_key="k", base_url=server.base_url) as client,
    ):
        firsts = await asyncio.gather(
            *(client.contacts.list().first() for _ in range(_gc.AUTO_GC_LISTINGS + 2))
        )
    assert [item.contact_key for item in firsts if item is not None] == ["a"] * 18
    assert gc.get_threshold() == (700, 10, 10)
    assert _gc._auto.listings == 0


def test_auto_gc_off_undoes_a_tuning_in_force_and_tuned_gc_nests_with_it(
    collector: tuple[int, ...],
) -> None:
    gc.set_threshold(700, 10, 10)
    with _gc.listing():
        for _ in range(_gc.AUTO_GC_LISTINGS - 1):
            _gc._auto.started()
        assert gc.get_threshold()[0] == _gc.GC_GEN0_THRESHOLD
        with ka.tuned_gc():
            ka.auto_gc(False)
            assert gc.get_threshold()[0] == _gc.GC_GEN0_THRESHOLD  # tuned_gc still holds it
        assert gc.get_threshold() == (700, 10, 10)
        ka.auto_gc(True)  # back on: many listings still run, so tuned again
        assert gc.get_threshold()[0] == _gc.GC_GEN0_THRESHOLD
        for _ in range(_gc.AUTO_GC_LISTINGS - 1):
            _gc._auto.ended()
    assert gc.get_threshold() == (700, 10, 10)


# --- group commits: every stream whose state a group wrote goes on at once -------------------


class _GatedStore(_state.GroupCommitStore[str]):
    """Groups written in memory, each only when the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(interval=60.0)
        self.gate = asyncio.Event()
        self.groups: list[list[str]] = []
        self.fail = False

    def _is_open(self) -> bool:
        return True

    def mark(self, account: str, resource: str, state: Any, sink: Any) -> None:
        self._dirty[(account, resource)] = account

    async def _write_batch(self, batch: dict[tuple[str, str], str]) -> None:
        await self.gate.wait()
        self.gate.clear()
        if self.fail:
            raise ka.LocalWriteError("journal", OSError(errno.ENOSPC, "No space left on device"))
        self.groups.append(sorted(batch.values()))

    async def _release(self) -> None:
        pass


async def test_streams_committing_together_all_go_on_once_their_group_is_written() -> None:
    store = _GatedStore()
    commits = [
        asyncio.ensure_future(store.commit(f"a{i:03}", "contacts", None, None))  # type: ignore[arg-type]
        for i in range(300)
    ]
    await asyncio.sleep(0)  # the first writes its group alone; the others mark and wait
    assert store.groups == []
    store.gate.set()  # the first group is written; the next starts with the other 299
    for _ in range(3):
        await asyncio.sleep(0)
    assert sum(task.done() for task in commits) == 1
    store.gate.set()
    for _ in range(3):  # a few turns of the loop, not one per stream (they were 299 in a row)
        await asyncio.sleep(0)
    assert all(task.done() for task in commits)
    assert [len(group) for group in store.groups] == [1, 299]
    assert store.commits == 2


async def test_a_failed_group_fails_every_stream_waiting_for_it_and_every_later_one() -> None:
    store = _GatedStore()
    first = asyncio.ensure_future(store.commit("a", "contacts", None, None))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    waiting = [
        asyncio.ensure_future(store.commit(f"b{i}", "contacts", None, None))  # type: ignore[arg-type]
        for i in range(5)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    await first
    store.fail = True
    store.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, ka.LocalWriteError) for result in results)
    with pytest.raises(ka.LocalWriteError):
        await store.commit("c", "contacts", None, None)  # type: ignore[arg-type]


def test_what_was_made_while_listings_doubled_is_frozen_too(collector: tuple[int, ...]) -> None:
    for _ in range(_gc.AUTO_GC_LISTINGS):
        _gc._auto.started()
    frozen_first = gc.get_freeze_count()
    assert frozen_first > 0
    made_since = [[index] for index in range(1000)]  # clients and connections made later
    for _ in range(_gc.AUTO_GC_LISTINGS - 1):
        _gc._auto.started()
    assert gc.get_freeze_count() == frozen_first  # not yet doubled
    _gc._auto.started()
    assert gc.get_freeze_count() >= frozen_first + len(made_since)
    for _ in range(2 * _gc.AUTO_GC_LISTINGS):
        _gc._auto.ended()
    assert gc.get_freeze_count() == 0


def test_the_young_threshold_grows_with_the_listings_in_flight_and_shrinks_back(
    collector: tuple[int, ...],
) -> None:
    gc.set_threshold(700, 10, 10)
    many = _gc.GC_GEN0_THRESHOLD // _gc.GC_GEN0_PER_LISTING  # from here, more than the floor
    with ka.tuned_gc():  # an export: tuned before its listings start
        for _ in range(many):
            _gc._auto.started()
        assert gc.get_threshold() == (_gc.GC_GEN0_THRESHOLD, 10, 10)
        for _ in range(many):
            _gc._auto.started()
        assert gc.get_threshold() == (2 * _gc.GC_GEN0_THRESHOLD, 10, 10)
        _gc._auto.started()
        assert gc.get_threshold()[0] == 2 * _gc.GC_GEN0_THRESHOLD + _gc.GC_GEN0_PER_LISTING
        for _ in range(many + 1):
            _gc._auto.ended()
        assert gc.get_threshold() == (_gc.GC_GEN0_THRESHOLD, 10, 10)
        for _ in range(many):
            _gc._auto.ended()
        assert gc.get_threshold() == (_gc.GC_GEN0_THRESHOLD, 10, 10)  # the floor, still tuned
    assert gc.get_threshold() == (700, 10, 10)


def test_listings_running_while_untuned_leave_the_threshold_alone(
    collector: tuple[int, ...],
) -> None:
    gc.set_threshold(700, 10, 10)
    ka.auto_gc(False)
    for _ in range(4 * _gc.GC_GEN0_THRESHOLD // _gc.GC_GEN0_PER_LISTING):
        _gc._auto.started()
    assert gc.get_threshold() == (700, 10, 10)
    for _ in range(4 * _gc.GC_GEN0_THRESHOLD // _gc.GC_GEN0_PER_LISTING):
        _gc._auto.ended()
