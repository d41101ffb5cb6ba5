"""DiscoveryWorker: snapshot publication, failure hand-off to the poll thread, the thread's start/stop.

Inline passes use FakeClock; the thread tests synchronise on events (no sleeps).
"""

import dataclasses
import threading

import httpx
import pytest
from orderbooks.api.ratelimit import RequestBudget
from orderbooks.markets.discovery_worker import DiscoveryWorker
from orderbooks.records import ERROR_CLASSES
from test_discovery import T0, WIN, make
from testkit.fake_exchange import MemorySink, run

K = (T0 + 2_000) // WIN  # the window open at make()'s start


def ids(markets):
    return [m.condition_id for m in markets]


def test_run_due_publishes_an_immutable_sorted_snapshot():
    d, _, clock = make()
    worker = DiscoveryWorker(d, clock)
    empty = worker.snapshot
    assert empty.version == 0 and empty.markets == ()
    assert worker.run_due(clock.monotonic() + 5) == 0
    first = worker.snapshot
    assert first is not empty and first.version == 1
    assert ids(first.markets) == [f"0x10684{k}" for k in range(K - 1, K + 7)]
    assert first.token_ids == {t for m in first.markets for t, _ in m.tokens}
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.markets = ()
    clock.advance(60)  # next refresh due; the schedule moved on by 6 windows
    worker.run_due(clock.monotonic() + 5)
    second = worker.snapshot
    assert second.version == 2 and second is not first
    assert ids(first.markets)[0] == f"0x10684{K - 1}"  # the old snapshot was not touched
    assert f"0x10684{K - 1}" not in ids(second.markets)  # ended beyond grace: forgotten
    assert f"0x10684{K + 12}" in ids(second.markets)


def test_poll_side_reads_the_latest_snapshot_and_keeps_its_own_closed_tokens():
    d, _, clock = make(upcoming=0)
    worker = DiscoveryWorker(d, clock)
    assert d.tracked_tokens(clock.wall_ms()) == []  # nothing known yet: poll nothing
    worker.run_due()
    prev = d.select(clock.wall_ms())[0]
    d.mark_closed(prev.tokens[0][0])
    clock.advance(60)
    worker.run_due()  # a new snapshot; prev is past its grace and forgotten
    assert prev.condition_id not in ids(worker.snapshot.markets)
    current = d.select(clock.wall_ms())
    assert prev not in current and current
    assert d._book_closed == set()  # 404-closed tokens of forgotten markets are dropped


def test_failures_are_queued_and_drained_once():
    d, gamma, clock = make()
    worker = DiscoveryWorker(d, clock)
    gamma.fail = True
    worker.cycle = 7
    assert worker.run_due(clock.monotonic() + 5) > 0
    drained = worker.drain_failures()
    assert drained[-1].error == "discovery" and drained[-1].cycle == 7 and drained[-1].series == "10684"
    assert all(f.error in ERROR_CLASSES for f in drained)
    assert worker.drain_failures() == []
    assert worker.snapshot.version == 0  # a failed refresh publishes nothing


def test_thread_first_pass_publishes_then_stop_joins():
    d, gamma, clock = make()
    worker = DiscoveryWorker(d, clock)
    worker.start(first_deadline=clock.monotonic() + 5)
    try:
        assert worker.first_pass_done.wait(10)
        assert worker.snapshot.version == 1 and worker.snapshot.markets
        assert worker.drain_failures() == []
        with pytest.raises(RuntimeError):
            worker.start()
    finally:
        assert worker.stop(timeout=10)
    assert not worker.running
    assert gamma.params  # the thread asked Gamma


def test_thread_failure_reaches_the_drain():
    d, gamma, clock = make()
    gamma.fail = True
    worker = DiscoveryWorker(d, clock)
    worker.start()
    try:
        assert worker.first_pass_done.wait(10)
        assert [f.error for f in worker.drain_failures()][-1] == "discovery"
        assert worker.snapshot.markets == ()
    finally:
        assert worker.stop(timeout=10)


def test_stop_does_not_hang_on_a_request_in_flight():
    entered, release = threading.Event(), threading.Event()

    def blocking(request):
        entered.set()
        release.wait(10)
        return httpx.Response(503)

    d, _, clock = make()
    d.client.http._transport = httpx.MockTransport(blocking)
    worker = DiscoveryWorker(d, clock)
    worker.start()
    try:
        assert entered.wait(10)
        assert worker.stop(timeout=0.01) is False  # busy: stop() returns instead of waiting
        assert worker.running
    finally:
        release.set()
    assert worker.stop(timeout=10)
    assert not worker.running


def test_collector_with_the_thread_polls_from_cycle_zero_and_stops_the_thread():
    reason, sink, exchange, _ = run(duration=5.0, discovery_thread=True)
    assert reason == "duration"
    assert sink.cycles[0].rows  # the first pass ran before cycle 0
    assert [c.cycle for c in sink.cycles] == list(range(5))
    assert ("GET", "/events") in exchange.requests
    assert not [t for t in threading.enumerate() if t.name == "discovery"]


def test_collector_with_the_thread_records_a_failed_first_pass_and_polls_nothing():
    def setup(ex):
        ex.gamma_fail = True

    sink = MemorySink()
    reason, sink, exchange, _ = run(duration=3.0, discovery_thread=True, setup=setup, sink=sink)
    assert reason == "duration"
    assert [f.error for f in sink.extra_failures if f.error == "discovery"]
    assert all(not c.rows for c in sink.cycles)
    assert not [m for m, path in exchange.requests if path == "/books"]


def test_request_budget_serialises_the_two_threads():
    """While one thread is inside the budget, the other waits for it (no interleaved deque updates)."""
    budget = RequestBudget(limits={"gamma": 5, "clob": 5}, fraction=1.0)
    inside, release, other_done = threading.Event(), threading.Event(), threading.Event()
    window = budget.windows["gamma"]
    real_record = window.record

    def slow_record(now):
        inside.set()
        release.wait(10)
        real_record(now)

    window.record = slow_record
    poll = threading.Thread(target=budget.record, args=(("gamma",), 1.0))
    poll.start()
    assert inside.wait(10)
    other = threading.Thread(target=lambda: (budget.delay(("clob",), 1.0), other_done.set()))
    other.start()
    try:
        assert not other_done.wait(0.05)  # blocked on the lock while the first thread is inside
    finally:
        release.set()
        poll.join(10)
        other.join(10)
    assert other_done.is_set() and len(window) == 1
