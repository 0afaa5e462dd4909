"""The mirror's ordering rule, alone: never older over newer, duplicates are no-ops, a delete is
not undone by a stale fetch (property tests over every order of arrival)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from karbon_async.mirror import (
    MIRROR_RESOURCES,
    Stored,
    Verdict,
    changed_fields,
    decide,
    decide_delete,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
FIELD = "LastModifiedDateTime"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def record(version: int | None, value: int) -> dict[str, Any]:
    out: dict[str, Any] = {"Key": "k", "Value": value}
    if version is not None:
        out[FIELD] = at(version).isoformat().replace("+00:00", "Z")
    return out


def replay(
    arrivals: list[tuple[dict[str, Any], dt.datetime]], version_field: str | None
) -> Stored | None:
    stored: Stored | None = None
    for data, fetched_at in arrivals:
        decision = decide(stored, data, fetched_at, version_field=version_field)
        if decision.verdict.writes:
            assert decision.record is not None
            stored = Stored(decision.record, fetched_at)
    return stored


# One record's history: state i has version i (Karbon moves it on every change), and was
# fetched by a request sent at some time after the change.
histories = st.lists(st.integers(0, 50), min_size=1, max_size=8, unique=True).map(sorted)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.randoms())
def test_the_newest_version_wins_whatever_the_arrival_order(versions: list[int], rng: Any) -> None:
    arrivals = [(record(v, v * 10), at(v + 0.5)) for v in versions]
    rng.shuffle(arrivals)
    stored = replay(arrivals, FIELD)
    assert stored is not None
    assert stored.record["Value"] == versions[-1] * 10


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.randoms())
def test_without_versions_the_later_sent_fetch_wins(versions: list[int], rng: Any) -> None:
    arrivals = [(record(None, v), at(v)) for v in versions]
    rng.shuffle(arrivals)
    stored = replay(arrivals, None)
    assert stored is not None
    assert stored.record["Value"] == versions[-1]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 5), st.integers(0, 5))
def test_a_duplicate_is_a_no_op(version: int, later: int) -> None:
    data = record(version, 1)
    stored = Stored(data, at(version))
    decision = decide(stored, dict(data), at(version + later), version_field=FIELD)
    assert decision.verdict is Verdict.UNCHANGED


def test_an_equal_version_fetched_later_with_other_content_replaces() -> None:
    stored = Stored(record(3, 1), at(4))
    decision = decide(stored, record(3, 2), at(5), version_field=FIELD)
    assert decision.verdict is Verdict.UPDATED
    assert decision.changed == ("Value",)
    stale = decide(stored, record(3, 2), at(3.5), version_field=FIELD)
    assert stale.verdict is Verdict.STALE


def test_a_delete_is_not_undone_by_a_fetch_sent_before_it() -> None:
    stored = Stored(record(1, 1), at(2))
    gone = decide_delete(stored, at(10))
    assert gone.verdict is Verdict.DELETED
    tomb = Stored(stored.record, at(10), deleted_at=at(10))
    late = decide(tomb, record(2, 2), at(9), version_field=FIELD)
    assert late.verdict is Verdict.STALE
    # Sent after the deletion was seen and found: Karbon has it (again).
    back = decide(tomb, record(2, 2), at(11), version_field=FIELD)
    assert back.verdict is Verdict.INSERTED
    assert back.record == record(2, 2)


def test_a_delete_older_than_a_fetch_that_found_the_record_is_stale() -> None:
    stored = Stored(record(1, 1), at(20))
    assert decide_delete(stored, at(10)).verdict is Verdict.STALE
    assert decide_delete(None, at(10)).verdict is Verdict.DELETED  # a tombstone for later
    tomb = Stored(record(1, 1), at(10), deleted_at=at(10))
    assert decide_delete(tomb, at(30)).verdict is Verdict.UNCHANGED


def test_a_fetched_state_is_merged_into_what_is_known() -> None:
    full = {"Key": "k", FIELD: "2026-01-01T00:00:05Z", "Detail": "x", "Value": 1}
    stored = Stored(full, at(6))
    summary = {"Key": "k", FIELD: "2026-01-01T00:00:05Z", "Value": 1}
    same = decide(stored, summary, at(7), version_field=FIELD)
    assert same.verdict is Verdict.UNCHANGED
    newer = {"Key": "k", FIELD: "2026-01-01T00:00:08Z", "Value": 2, "Listed": "y"}
    decision = decide(stored, newer, at(9), version_field=FIELD)
    assert decision.verdict is Verdict.UPDATED
    assert decision.record == {**full, **newer}
    assert decision.changed == (FIELD, "Value")  # "Listed" was unknown: learned
    # A single GET without the list's own field keeps it.
    whole = {"Key": "k", FIELD: "2026-01-01T00:00:09Z", "Detail": "z", "Value": 2}
    again = decide(Stored(decision.record, at(9)), whole, at(10), version_field=FIELD)
    assert again.record == {**full, **newer, **whole}
    assert again.changed == ("Detail", FIELD)


def test_a_malformed_version_falls_back_to_fetch_order() -> None:
    stored = Stored({"Key": "k", FIELD: "yesterday", "Value": 1}, at(1))
    decision = decide(
        stored,
        {"Key": "k", FIELD: "2026-01-01T00:00:00Z", "Value": 2},
        at(2),
        version_field=FIELD,
    )
    assert decision.verdict is Verdict.UPDATED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=4,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from("ABCDE"), json_values, max_size=5),
    st.dictionaries(st.sampled_from("ABCDE"), json_values, max_size=5),
)
def test_changed_fields_are_exactly_the_differing_top_level_fields(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    changed = changed_fields(before, after)
    assert list(changed) == sorted(changed)
    for name in "ABCDE":
        differs = (name in before) != (name in after) or before.get(name) != after.get(name)
        assert (name in changed) == differs


def test_fields_a_summary_lacked_are_learned_not_announced() -> None:
    summary = {"Key": "k", FIELD: "2026-01-01T00:00:05Z", "Value": 1}
    stored = Stored(summary, at(6))
    full = {**summary, "Detail": "x"}
    learned = decide(stored, full, at(7), version_field=FIELD)
    assert learned.verdict is Verdict.UPDATED
    assert learned.record == full
    assert learned.changed == ()
    moved = decide(stored, {**full, "Value": 2}, at(7), version_field=FIELD)
    assert moved.changed == ("Value",)


def test_spellings_of_one_value_are_the_same_value() -> None:
    work = MIRROR_RESOURCES["work-items"]
    stored = Stored({"WorkItemKey": "k", "PrimaryStatus": "InProgress", "Title": "a"}, at(1))
    listed = {"WorkItemKey": "k", "PrimaryStatus": "In Progress", "Title": "a"}
    same = decide(stored, listed, at(2), version_field=None, same=work.same_value)
    assert same.verdict is Verdict.UNCHANGED
    moved = decide(
        stored,
        {**listed, "PrimaryStatus": "Completed"},
        at(2),
        version_field=None,
        same=work.same_value,
    )
    assert moved.changed == ("PrimaryStatus",)
    assert work.same_value("DueDate", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.0000000Z")
    assert not work.same_value("Title", "In Progress", "InProgress")  # text is text
