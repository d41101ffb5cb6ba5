"""Sliding-window request budget."""

import pytest
from orderbooks.api.ratelimit import DOCUMENTED_LIMITS, RequestBudget, SlidingWindow


def test_window_allows_limit_then_asks_to_wait_until_oldest_expires():
    w = SlidingWindow(3, window=10.0)
    for t in (0.0, 1.0, 2.0):
        assert w.delay(t) == 0.0
        w.record(t)
    assert w.delay(5.0) == pytest.approx(5.0)  # oldest (t=0) leaves the window at t=10
    assert w.delay(10.0) == 0.0


def test_window_slides():
    w = SlidingWindow(2, window=1.0)
    w.record(0.0)
    w.record(0.5)
    assert w.delay(0.9) == pytest.approx(0.1)
    w.record(1.0)
    assert len(w) == 2


def test_budget_uses_a_fraction_of_documented_limits():
    b = RequestBudget(fraction=0.5)
    assert b.windows["clob POST /books"].limit == DOCUMENTED_LIMITS["clob POST /books"] // 2
    assert b.windows["gamma GET /events"].limit == 250


def test_budget_delay_is_the_max_over_keys():
    b = RequestBudget({"clob": 100, "clob POST /books": 2}, fraction=1.0)
    keys = ("clob", "clob POST /books")
    b.record(keys, 0.0)
    b.record(keys, 1.0)
    assert b.delay(keys, 2.0) == pytest.approx(8.0)
    assert b.delay(("clob", "clob GET /book"), 2.0) == 0.0


@pytest.mark.parametrize("fraction", [0, -1, 1.5])
def test_bad_fraction_is_refused(fraction):
    with pytest.raises(ValueError):
        RequestBudget(fraction=fraction)
