"""A scripted exchange for the poll loop's tests: Gamma and CLOB for series
10684 with 10 s windows behind an ``httpx.MockTransport``, an in-memory sink,
and ``run`` that drives a real ``Collector`` on a ``FakeClock`` (no sleeping)."""

import json
import random
from datetime import UTC, datetime

import httpx
import orjson
from orderbooks.capture.poll_loop import Collector
from orderbooks.config import Settings

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
