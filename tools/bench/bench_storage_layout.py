"""Stored bytes of the same rows in today's layout and in a per-series stream layout.

    python tools/bench/bench_storage_layout.py [--seconds 60] [--levels 50] [--changes 1,3,10]

Rows come from the simulator's book engine (polysim, no HTTP): every second,
every open market of all five BTC series, both tokens, as the collector polls
them at 1 Hz. Each scenario compresses the very same rows two ways at level 6:

* ``old``: one gzip member per cycle holding the rows of every token (the
  writer today); each member restarts deflate's dictionary;
* ``new``: one stream per series (one file per series and hour), a
  Z_SYNC_FLUSH after every cycle (a cycle is recoverable as soon as it is
  written), a member closed every ``--member-cycles`` cycles.

Prints bytes per row, the new/old ratio, MB per day at 20 tokens and 1 Hz,
the days a 25 GB disk holds, and CPU per 1000 rows of each layout (the write
path's zlib cost).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

from _common import figure, machine
from orderbooks.records import ROW_SCHEMA
from orderbooks.store import gzmembers
from orderbooks.store.writer import _serialize
from polysim.books import BookEngine, BookShape
from polysim.markets import Catalog

T0_MS = 1_778_580_000_000  # an hour boundary (2026-05-12T10:00:00Z)
DISK_BYTES = 25e9
TOKENS = 20
LEVEL = 6


def cycles(shape: BookShape, seconds: int, seed: int = 1) -> Iterator[list[dict[str, Any]]]:
    """The rows of each 1 Hz cycle: every open market of every series, both tokens."""
    catalog = Catalog(seed=seed, window_seconds=300)
    engine = BookEngine(catalog, shape)
    for cycle in range(seconds):
        now = T0_MS + cycle * 1000
        rows = []
        for market in catalog.markets_between(now, now + 1, ("btc",)):
            info = market.describe()
            for token_id, outcome in info["tokens"].items():
                book = engine.book(token_id, now)
                if book is None:
                    continue
                rows.append(
                    {
                        "schema": ROW_SCHEMA,
                        "recv_ms": now + 40,
                        "latency_ms": 40,
                        "cycle": cycle + 1,
                        "series": info["series"],
                        "slug": info["slug"],
                        "condition_id": info["condition_id"],
                        "token_id": token_id,
                        "outcome": outcome,
                        "window_start": info["window_start"],
                        "window_end": info["window_end"],
                        "book": dict(book),
                    }
                )
        yield rows


def old_layout(serialized: list[list[tuple[str, bytes]]]) -> int:
    return sum(
        len(gzmembers.compress_member(b"".join(line for _s, line in cycle), LEVEL)) for cycle in serialized
    )


def new_layout(serialized: list[list[tuple[str, bytes]]], member_cycles: int) -> int:
    streams: dict[str, gzmembers.MemberStream] = {}
    written: dict[str, int] = {}
    stored = 0
    for cycle in serialized:
        by_series: dict[str, list[bytes]] = {}
        for series, line in cycle:
            by_series.setdefault(series, []).append(line)
        for series, lines in by_series.items():
            stream = streams.setdefault(series, gzmembers.MemberStream(LEVEL))
            stored += len(stream.flush(b"".join(lines)))
            written[series] = written.get(series, 0) + 1
            if written[series] % member_cycles == 0:
                stored += len(stream.finish())
                streams[series] = gzmembers.MemberStream(LEVEL)
    for stream in streams.values():
        stored += len(stream.finish())
    return stored


def scenario(name: str, shape: BookShape, seconds: int, member_cycles: int, keep_days: int) -> None:
    serialized = [[(row["series"], _serialize(row)) for row in rows] for rows in cycles(shape, seconds)]
    rows = sum(len(c) for c in serialized)
    raw = sum(len(line) for c in serialized for _s, line in c)
    cpu0 = time.process_time()
    old = old_layout(serialized)
    cpu1 = time.process_time()
    new = new_layout(serialized, member_cycles)
    cpu2 = time.process_time()
    per_day_rows = TOKENS * 86_400
    print(f"-- {name}: {rows} rows, {seconds} cycles, raw JSON {raw / rows:.0f} bytes per row")
    for label, stored, cpu in (("old", old, cpu1 - cpu0), ("new", new, cpu2 - cpu1)):
        per_day = stored / rows * per_day_rows
        figure(f"{name} {label}: stored per row", f"{stored / rows:.0f}", "bytes")
        figure(f"{name} {label}: per day (20 tokens, 1 Hz)", f"{per_day / 1e6:.0f}", "MB/day")
        figure(
            f"{name} {label}: days on a 25 GB disk",
            f"{DISK_BYTES / per_day:.0f}",
            "days",
            f"keep_days {keep_days}",
        )
        figure(f"{name} {label}: CPU per 1000 rows", f"{cpu / rows * 1e6:.1f}", "ms")
    figure(f"{name}: stored bytes new / old", f"{new / old:.3f}", "", f"{old} -> {new} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="cycles at 1 Hz (default 60)")
    parser.add_argument("--levels", type=int, default=50, help="levels a side of the deep books (default 50)")
    parser.add_argument("--changes", default="1,3,10", help="level sizes changed per poll, one scenario each")
    parser.add_argument("--member-cycles", type=int, default=60, help="new layout: cycles per gzip member")
    parser.add_argument("--keep-days", type=int, default=7, help="the uploader's keep_days (default 7)")
    parser.add_argument("--no-default-books", action="store_true", help="skip the simulator's default books")
    args = parser.parse_args()
    print(f"storage layout benchmark ({machine()}); level {LEVEL}; member every {args.member_cycles} cycles")
    for changes in (int(c) for c in args.changes.split(",") if c):
        shape = BookShape(levels=args.levels, changes=changes)
        scenario(
            f"{args.levels} levels, {changes} changes",
            shape,
            args.seconds,
            args.member_cycles,
            args.keep_days,
        )
    if not args.no_default_books:
        scenario("default books", BookShape(), args.seconds, args.member_cycles, args.keep_days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
