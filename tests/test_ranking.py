"""``store.ranking.newest_first``: the one order of a date-sorted page, for both stores."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from picfind.store.ranking import newest_first

taken = st.none() | st.sampled_from(["2019-07-14T12:00:00", "2019-07-14T12:00:01", "2021-01-01"])
rows = st.lists(st.tuples(taken, st.sampled_from([0.1, 0.5, 0.9])), max_size=30)


def test_newest_first_then_best_then_undated_by_score() -> None:
    page = [("2019-01-01", 0.9, "a"), (None, 0.8, "b"), ("2020-01-01", 0.2, "c")]
    page += [("2020-01-01", 0.7, "d"), (None, 0.95, "e")]
    assert newest_first(page) == [(0.7, "d"), (0.2, "c"), (0.9, "a"), (0.95, "e"), (0.8, "b")]


@given(rows)
def test_every_row_once_dated_first_and_ties_keep_their_order(
    found: list[tuple[str | None, float]],
) -> None:
    keyed = [(t, s, i) for i, (t, s) in enumerate(found)]
    out = newest_first(keyed)
    assert sorted(k for _, k in out) == list(range(len(found)))
    order = [keyed[k] for _, k in out]
    dated = [r for r in order if r[0]]
    assert order[: len(dated)] == dated  # undated last
    for a, b in itertools.pairwise(order):
        if a[0] and b[0]:
            assert (a[0], a[1]) > (b[0], b[1]) or ((a[0], a[1]) == (b[0], b[1]) and a[2] < b[2])
        elif not a[0] and not b[0]:
            assert a[1] > b[1] or (a[1] == b[1] and a[2] < b[2])
