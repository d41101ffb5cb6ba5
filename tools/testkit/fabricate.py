"""Synthetic collector runs written through the real storage layer.

``write_run(data_dir, Scenario(...))`` plays a collector run cycle by cycle on
a FakeClock and hands each cycle to the real ``SnapshotWriter``, so the files,
members and manifests are exactly what production writes. The scenario says
which cycles fail (an outage: no rows, one failure record per cycle), which
tokens go missing, how often books change, and which books are empty or
one-sided, so tests know the expected quality figures exactly.

Also used by the benchmarks for realistic rows (``book_for``).
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.records import ROW_SCHEMA, CycleResult, FailureRecord
from orderbooks.store.paths import new_run_id
from orderbooks.store.writer import SnapshotWriter

from testkit.fake_clock import FakeClock

#: A quiet UTC hour start (2026-05-12T10:00:00Z) for tests.
T0_MS = 1_778_580_000_000


def iso(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms // 1000))


@dataclass(frozen=True)
class FakeMarket:
    series: str
    slug: str
    condition_id: str
    window_start_ms: int
    window_end_ms: int
    tokens: tuple[tuple[str, str], ...]  # (token_id, outcome)


def markets_for(series: str, window_s: int, start_ms: int, end_ms: int) -> list[FakeMarket]:
    """Contiguous windows of *window_s* seconds covering [start_ms, end_ms)."""
    window_ms = window_s * 1000
    first = start_ms - start_ms % window_ms
    out = []
    for w_start in range(first, end_ms, window_ms):
        digest = hashlib.sha256(f"{series}-{w_start}".encode()).hexdigest()
        up = str(int(digest[:30], 16))
        down = str(int(digest[30:60], 16))
        out.append(
            FakeMarket(
                series=series,
                slug=f"btc-updown-{window_s}s-{w_start // 1000}",
                condition_id="0x" + digest,
                window_start_ms=w_start,
                window_end_ms=w_start + window_ms,
                tokens=((up, "Up"), (down, "Down")),
            )
        )
    return out


def market_fields(market: FakeMarket, token_id: str, outcome: str) -> dict[str, Any]:
    """The row keys that come from the market, ``series`` to ``window_end`` in row order."""
    return {
        "series": market.series,
        "slug": market.slug,
        "condition_id": market.condition_id,
        "token_id": token_id,
        "outcome": outcome,
        "window_start": iso(market.window_start_ms),
        "window_end": iso(market.window_end_ms),
    }


def book_for(
    market: FakeMarket, token_id: str, version: int, *, levels: int = 20, rng: random.Random | None = None
) -> dict[str, Any]:
    """A book in the exchange's shape: string prices and sizes, bids ascending, asks descending."""
    rng = rng or random.Random(hash((token_id, version)))
    mid = 30 + (version * 7 + int(token_id[-2:])) % 40
    bids = [
        {"price": f"{(mid - levels + i) / 100:.2f}", "size": f"{rng.uniform(5, 20000):.2f}"}
        for i in range(levels)
        if mid - levels + i > 0
    ]
    asks = [
        {"price": f"{(mid + levels - i) / 100:.2f}", "size": f"{rng.uniform(5, 20000):.2f}"}
        for i in range(levels)
        if mid + levels - i < 100
    ]
    book: dict[str, Any] = {
        "market": market.condition_id,
        "asset_id": token_id,
        "timestamp": str(market.window_start_ms + version * 1000),
        "hash": "",
        "bids": bids,
        "asks": asks,
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": f"{mid / 100:.3f}",
    }
    book["hash"] = hashlib.sha1(repr(book).encode(), usedforsecurity=False).hexdigest()
    return book


@dataclass
class Scenario:
    start_ms: int = T0_MS
    cycles: int = 600
    interval_s: float = 1.0
    #: series id -> window length in seconds.
    series: dict[str, int] = field(default_factory=lambda: {"10684": 300})
    #: (first cycle, last cycle exclusive, error class): whole cycles that fail.
    outages: list[tuple[int, int, str]] = field(default_factory=list)
    #: cycle -> token ids absent from the answer (a missing_book failure each).
    missing: dict[int, set[str]] = field(default_factory=dict)
    #: cycle numbers the schedule skipped (an overrun record in the previous cycle).
    skipped: set[int] = field(default_factory=set)
    #: a token's book changes every this many cycles (the rows between are unchanged).
    change_every: int = 1
    #: cycles whose books are empty / one-sided (both tokens).
    empty_cycles: set[int] = field(default_factory=set)
    one_sided_cycles: set[int] = field(default_factory=set)
    latency_ms: int = 5
    #: extra schedule delay of cycle k (ms), before the request starts.
    delay_ms: dict[int, int] = field(default_factory=dict)
    levels: int = 10
    flush_seconds: float = 0.0
    compress_level: int = 6
    #: put the interval in the run manifest (else quality infers it).
    interval_in_run_info: bool = True
    #: markets are polled from this long before their window starts (the collector's "upcoming").
    lead_s: float = 0.0
    #: markets never polled (as if discovery never listed them).
    dropped_slugs: set[str] = field(default_factory=set)
    #: series the run manifest says the run was told to collect (run_info.settings.series).
    run_series: tuple[str, ...] | None = None


def tracked(markets: list[FakeMarket], now_ms: int, lead_ms: int) -> list[FakeMarket]:
    return [m for m in markets if m.window_start_ms - lead_ms <= now_ms < m.window_end_ms]


def write_run(
    data_dir: Path, scenario: Scenario, *, run_id: str | None = None, close: bool = True
) -> dict[str, Any]:
    """Write one run; returns {run_id, markets, rows, writer} (writer still open when close=False)."""
    interval_ms = round(scenario.interval_s * 1000)
    end_ms = scenario.start_ms + scenario.cycles * interval_ms
    markets = [
        m
        for series, window_s in scenario.series.items()
        for m in markets_for(series, window_s, scenario.start_ms, end_ms + 3_600_000)
        if m.window_start_ms < end_ms + round(scenario.lead_s * 1000)
    ]
    run_id = run_id or new_run_id(scenario.start_ms)
    clock = FakeClock(wall_ms=scenario.start_ms, monotonic=1000.0)
    run_info: dict[str, Any] = (
        {"settings": {"interval": scenario.interval_s}} if scenario.interval_in_run_info else {}
    )
    if scenario.run_series is not None:
        run_info.setdefault("settings", {})["series"] = list(scenario.run_series)
    writer = SnapshotWriter(
        data_dir,
        run_id=run_id,
        clock=clock,
        collector_version="test",
        host="fabricated",
        flush_seconds=scenario.flush_seconds,
        compress_level=scenario.compress_level,
        disk_floor_bytes=0,
        run_info=run_info,
    )
    rows_written = 0
    for cycle in range(scenario.cycles):
        if cycle in scenario.skipped:
            continue
        due_ms = scenario.start_ms + cycle * interval_ms
        start = due_ms + scenario.delay_ms.get(cycle, 0)
        recv = start + scenario.latency_ms
        clock._wall_ms = recv  # the fake clock jumps to this cycle's receipt time
        clock._mono = 1000.0 + (recv - scenario.start_ms) / 1000
        result = CycleResult(cycle=cycle, started_ms=start)
        outage = next((err for a, b, err in scenario.outages if a <= cycle < b), None)
        if outage is not None:
            result.ok = False
            result.failures.append(
                FailureRecord(
                    t_ms=recv, cycle=cycle, error=outage, message="fabricated", endpoint="POST /books"
                )
            )
            writer.write_cycle(result)
            continue
        if cycle + 1 in scenario.skipped:
            result.failures.append(
                FailureRecord(t_ms=recv, cycle=cycle, error="overrun", message="fabricated")
            )
        for market in tracked(markets, due_ms, round(scenario.lead_s * 1000)):
            if market.slug in scenario.dropped_slugs:
                continue
            for token_id, outcome in market.tokens:
                if token_id in scenario.missing.get(cycle, set()):
                    result.ok = False
                    result.failures.append(
                        FailureRecord(
                            t_ms=recv,
                            cycle=cycle,
                            error="missing_book",
                            message="fabricated",
                            series=market.series,
                            token_id=token_id,
                            endpoint="POST /books",
                        )
                    )
                    continue
                version = cycle // max(1, scenario.change_every)
                book = book_for(market, token_id, version, levels=scenario.levels)
                if cycle in scenario.empty_cycles:
                    book = {**book, "bids": [], "asks": [], "hash": f"empty-{cycle}"}
                elif cycle in scenario.one_sided_cycles:
                    book = {**book, "asks": [], "hash": f"onesided-{cycle}"}
                result.rows.append(
                    {
                        "schema": ROW_SCHEMA,
                        "recv_ms": recv,
                        "latency_ms": scenario.latency_ms,
                        "cycle": cycle,
                        **market_fields(market, token_id, outcome),
                        "book": book,
                    }
                )
        rows_written += len(result.rows)
        writer.write_cycle(result)
    if close:
        writer.close("duration")
    return {"run_id": run_id, "markets": markets, "rows": rows_written, "writer": writer, "clock": clock}
