"""The poll loop driven by httpx.MockTransport + FakeClock + an in-memory sink (no sleeping)."""

import itertools
import threading

import pytest
from orderbooks.records import ERROR_CLASSES, ROW_SCHEMA
from testkit.fake_exchange import T0, WIN, Exchange, MemorySink, run


def test_runs_for_the_duration_on_a_drift_free_schedule():
    reason, sink, _, clock = run(duration=30.0, interval=1.0)
    assert reason == "duration"
    assert [c.cycle for c in sink.cycles] == list(range(30))
    starts = [c.started_ms for c in sink.cycles]
    assert all(b - a == 1000 for a, b in itertools.pairwise(starts))
    assert clock.monotonic() == pytest.approx(530.0)


def test_rows_follow_the_contract_and_outcomes_come_from_pairing():
    _, sink, _, _ = run(duration=25.0)
    assert sink.rows
    for row in sink.rows:
        assert row["schema"] == ROW_SCHEMA
        k = int(row["condition_id"][2:])
        toks, outs = Exchange.tokens(k)
        assert row["outcome"] == outs[toks.index(row["token_id"])]
        assert row["book"]["asset_id"] == row["token_id"]
        assert "book_errors" not in row


def test_rollover_polls_each_window_from_its_first_cycle():
    _, sink, _, _ = run(duration=25.0)
    for k in range(T0 // WIN, (T0 + 25_000) // WIN):
        cycles_with_rows = [c for c in sink.cycles if any(r["condition_id"] == f"0x{k}" for r in c.rows)]
        open_cycles = [c for c in sink.cycles if k * WIN <= c.started_ms < (k + 1) * WIN]
        assert {c.cycle for c in open_cycles} <= {c.cycle for c in cycles_with_rows}, k


def test_upcoming_window_is_polled_before_it_starts_and_grace_after_it_ends():
    _, sink, _, _ = run(duration=16.0)
    first = sink.cycles[0]
    k = T0 // WIN
    assert {r["condition_id"] for r in first.rows} >= {f"0x{k}", f"0x{k + 1}"}
    # k ended at +9 s; with grace 5 s and books closing 2 s after the end, the 404 stops it early.
    late = [c for c in sink.cycles if c.started_ms >= (k + 1) * WIN + 3_000]
    assert late and all(r["condition_id"] != f"0x{k}" for c in late for r in c.rows)
    assert any(f.error == "book_closed" for f in sink.failures)


def test_overrun_is_recorded_and_the_schedule_skips_ahead():
    def setup(ex):
        ex.slow_books_once = 2.5

    _, sink, _, _ = run(duration=10.0, interval=1.0, setup=setup)
    overruns = [f for f in sink.failures if f.error == "overrun"]
    assert len(overruns) == 1 and "skipped 2 cycle(s)" in overruns[0].message
    numbers = [c.cycle for c in sink.cycles]
    assert numbers[:2] == [0, 3]  # cycles 1 and 2 were skipped, not bunched


def test_discovery_failure_at_start_is_recorded_and_retried():
    def setup(ex):
        ex.gamma_fail = True

    state = {}

    def on_cycle(result):
        if result.cycle == 3:
            state["ex"].gamma_fail = False

    def capture(ex):
        setup(ex)
        state["ex"] = ex

    sink = MemorySink(on_cycle=on_cycle)
    reason, sink, _, _ = run(duration=20.0, sink=sink, setup=capture)
    assert reason == "duration"
    assert any(f.error == "discovery" for f in sink.failures)
    assert not sink.cycles[0].rows
    assert sink.rows  # known set filled by a later refresh (retry within 10 s)
    assert all(f.error in ERROR_CLASSES for f in sink.failures)


def test_stop_event_ends_after_the_current_cycle():
    stop = threading.Event()

    def on_cycle(result):
        if result.cycle == 2:
            stop.set()

    reason, sink, _, _ = run(duration=None, sink=MemorySink(on_cycle=on_cycle), stop_event=stop)
    assert reason == "stopped"
    assert [c.cycle for c in sink.cycles] == [0, 1, 2]


def test_a_crashing_sink_does_not_kill_the_loop():
    calls = []

    def on_cycle(result):
        calls.append(result.cycle)
        if result.cycle == 1:
            raise RuntimeError("bug")

    reason, _, _, _ = run(duration=5.0, sink=MemorySink(on_cycle=on_cycle))
    assert reason == "duration"
    assert calls == [0, 1, 2, 3, 4]
