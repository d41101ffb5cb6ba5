"""The poll loop driven by httpx.MockTransport + FakeClock + an in-memory sink (no sleeping)."""

import itertools
import json
import random
import threading
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from orderbooks.capture.poll_loop import Collector
from orderbooks.config import Settings
from orderbooks.records import ERROR_CLASSES, ROW_SCHEMA
from testkit.fake_clock import FakeClock

WIN = 10_000
T0 = 1_700_000_000_000 + 1_000  # 1 s into a window


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Exchange:
    """Gamma + CLOB for series 10684 with 10 s windows; odd windows list Down first."""

    def __init__(self, clock):
        self.clock = clock
        self.gamma_fail = False
        self.slow_books_once = 0.0
        self.requests = []

    @staticmethod
    def tokens(k):
        up, down = f"{k}01", f"{k}02"
        return ([down, up], ["Down", "Up"]) if k % 2 else ([up, down], ["Up", "Down"])

    def __call__(self, request):
        self.requests.append((request.method, request.url.path))
        now = self.clock.wall_ms()
        if request.url.path == "/events":
            if self.gamma_fail:
                return httpx.Response(500)
            k0 = now // WIN
            events = []
            for k in range(k0 - 1, k0 + 4):
                toks, outs = self.tokens(k)
                events.append(
                    {
                        "slug": f"btc-updown-5m-{k * 10}",
                        "series": [{"id": "10684"}],
                        "markets": [
                            {
                                "conditionId": f"0x{k}",
                                "slug": f"btc-updown-5m-{k * 10}",
                                "outcomes": json.dumps(outs),
                                "clobTokenIds": json.dumps(toks),
                                "eventStartTime": iso(k * WIN),
                                "endDate": iso((k + 1) * WIN),
                            }
                        ],
                    }
                )
            return httpx.Response(200, json=events)
        if request.url.path == "/books":
            if self.slow_books_once:
                self.clock.advance(self.slow_books_once)
                self.slow_books_once = 0.0
            wanted = [i["token_id"] for i in orjson.loads(request.content)]
            books = [
                {
                    "asset_id": t,
                    "market": f"0x{t[:-2]}",
                    "timestamp": str(now),
                    "hash": "h",
                    "bids": [{"price": "0.40", "size": "10"}],
                    "asks": [{"price": "0.60", "size": "10"}],
                }
                for t in wanted
                if int(t[:-2]) * WIN + WIN + 2_000 > now
            ]  # closed 2 s after the end
            return httpx.Response(200, json=books)
        if request.url.path == "/book":
            return httpx.Response(404, json={"error": "No orderbook exists for the requested token id"})
        return httpx.Response(404)


class MemorySink:
    def __init__(self, on_cycle=None):
        self.cycles = []
        self.extra_failures = []
        self.closed = None
        self.on_cycle = on_cycle

    def write_cycle(self, result):
        self.cycles.append(result)
        if self.on_cycle:
            self.on_cycle(result)

    def record_failures(self, failures):
        self.extra_failures.extend(failures)

    def close(self, exit_reason):
        self.closed = exit_reason

    @property
    def rows(self):
        return [r for c in self.cycles for r in c.rows]

    @property
    def failures(self):
        return [f for c in self.cycles for f in c.failures] + self.extra_failures


def run(duration=30.0, interval=1.0, sink=None, setup=None, stop_event=None, *, discovery_thread=False, **kw):
    """Discovery inline after each cycle by default (deterministic with FakeClock)."""
    clock = FakeClock(wall_ms=T0, monotonic=500.0)
    exchange = Exchange(clock)
    if setup:
        setup(exchange)
    settings = Settings(
        gamma_url="http://g",
        clob_url="http://c",
        series=("10684",),
        interval=interval,
        duration=duration,
        grace_seconds=5,
        upcoming=1,
        **kw,
    )
    sink = sink or MemorySink()
    collector = Collector(
        settings,
        sink,
        clock=clock,
        transport=httpx.MockTransport(exchange),
        stop_event=stop_event,
        rng=random.Random(1),
        discovery_thread=discovery_thread,
    )
    reason = collector.run()
    return reason, sink, exchange, clock


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
