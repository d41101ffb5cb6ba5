"""Write path: rows per second per core for parse + serialize + compress + write + fsync
through the real SnapshotWriter, next to bare zlib compressing the same bytes at the same level.

    python tools/bench/bench_write_path.py [--cycles 3000] [--tokens 20] [--level 6] [--dir DIR]

Rows/s per core = rows / CPU seconds of this process (user + system, so the
write and fsync system calls count); the wall-clock rate with one fsync per
cycle is printed too. Target: the write path at least half the zlib bound.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path

from _common import ROOT, build_rows, cycle_bodies, figure, machine
from orderbooks.clock import SystemClock
from orderbooks.records import CycleResult
from orderbooks.store import gzmembers
from orderbooks.store.writer import SnapshotWriter, _serialize


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=3000)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--level", type=int, default=6)
    parser.add_argument(
        "--member-cycles",
        type=int,
        default=0,
        help="writer layout: 0 one member per cycle; N per-series streams",
    )
    parser.add_argument("--dir", type=Path, default=ROOT / ".cache" / "bench", help="where the writer writes")
    args = parser.parse_args()

    from orderbooks import logs

    logs.configure("warning")
    bodies, metas = cycle_bodies(tokens=args.tokens)
    args.dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="write-path-", dir=args.dir))
    rows_total = args.cycles * args.tokens

    # 1. the real write path: parse the answer, build rows, SnapshotWriter.write_cycle (serialize,
    #    compress one gzip member, write, fsync).
    writer = SnapshotWriter(
        data_dir, run_id="20260101T000000Z-bench0", clock=SystemClock(), collector_version="bench",
        host="bench", compress_level=args.level, disk_floor_bytes=0, member_cycles=args.member_cycles,
    )  # fmt: skip
    times0, wall0 = os.times(), time.perf_counter()
    for cycle in range(args.cycles):
        rows = build_rows(bodies[cycle % len(bodies)], metas, cycle, 1_778_580_000_000 + cycle * 1000)
        writer.write_cycle(CycleResult(cycle=cycle, started_ms=0, rows=rows))
    times1, wall_write = os.times(), time.perf_counter() - wall0
    user_write = times1.user - times0.user
    sys_write = times1.system - times0.system
    cpu_write = user_write + sys_write
    writer.close("bench")
    stored = sum(p.stat().st_size for p in data_dir.rglob("*.jsonl.gz"))

    # 2. the bound: zlib alone on the same serialized bytes, one member per cycle, same level.
    payloads = [
        b"".join(
            _serialize(r) for r in build_rows(bodies[c % len(bodies)], metas, c, 1_778_580_000_000 + c * 1000)
        )
        for c in range(len(bodies))
    ]
    cpu0 = time.process_time()
    for cycle in range(args.cycles):
        compressor = zlib.compressobj(args.level, zlib.DEFLATED, 31)
        compressor.compress(payloads[cycle % len(payloads)])
        compressor.flush(zlib.Z_FINISH)
    cpu_zlib = time.process_time() - cpu0
    if (
        args.member_cycles
    ):  # the bound of the per-series layout: zlib alone, one sync-flushed stream per series
        per_series = [
            {
                s: b"".join(_serialize(r) for r in rows if r["series"] == s)
                for s in {r["series"] for r in rows}
            }
            for rows in (
                build_rows(bodies[c % len(bodies)], metas, c, 1_778_580_000_000 + c * 1000)
                for c in range(len(bodies))
            )
        ]
        streams: dict[str, gzmembers.MemberStream] = {}
        cpu0 = time.process_time()
        for cycle in range(args.cycles):
            for series, data in per_series[cycle % len(per_series)].items():
                stream = streams.setdefault(series, gzmembers.MemberStream(args.level))
                stream.flush(data)
                if stream.flushes >= args.member_cycles:
                    stream.finish()
                    streams[series] = gzmembers.MemberStream(args.level)
        cpu_zlib = time.process_time() - cpu0

    # 3. the stages alone (no writer), to show where the write path spends its CPU.
    cpu0 = time.process_time()
    for cycle in range(args.cycles):
        rows = build_rows(bodies[cycle % len(bodies)], metas, cycle, 1_778_580_000_000 + cycle * 1000)
    cpu_parse = time.process_time() - cpu0
    sample = build_rows(bodies[0], metas, 0, 1_778_580_000_000)
    cpu0 = time.process_time()
    for _ in range(args.cycles):
        b"".join(_serialize(r) for r in sample)
    cpu_serialize = time.process_time() - cpu0
    raw = sum(len(p) for p in payloads) / len(payloads) / args.tokens
    shutil.rmtree(data_dir)

    write_rate = rows_total / cpu_write
    zlib_rate = rows_total / cpu_zlib
    print(
        f"write path benchmark ({machine()}); {args.cycles} cycles x {args.tokens} tokens, level {args.level}"
    )
    figure("row size (serialized JSON)", f"{raw:.0f}", "bytes")
    figure("stored per row", f"{stored / rows_total:.0f}", "bytes")
    figure("write path, rows/s per core (CPU time)", f"{write_rate:,.0f}", "rows/s")
    figure("write path, rows/s wall (fsync per cycle)", f"{rows_total / wall_write:,.0f}", "rows/s")
    figure("bare zlib same bytes same level, rows/s", f"{zlib_rate:,.0f}", "rows/s")
    figure("write path / zlib bound", f"{write_rate / zlib_rate:.2f}", "", "target >= 0.50")
    figure("  of which user CPU", f"{user_write / args.cycles * 1000:.2f}", "ms/cycle")
    figure("  of which system CPU (write, fsync)", f"{sys_write / args.cycles * 1000:.2f}", "ms/cycle")
    figure("  stage: parse answer + build rows", f"{cpu_parse / args.cycles * 1000:.2f}", "ms/cycle")
    figure("  stage: serialize rows (orjson)", f"{cpu_serialize / args.cycles * 1000:.2f}", "ms/cycle")
    figure("  stage: zlib member (the bound)", f"{cpu_zlib / args.cycles * 1000:.2f}", "ms/cycle")
    user_rate = rows_total / user_write if user_write else float("inf")
    figure("write path without kernel time / zlib bound", f"{user_rate / zlib_rate:.2f}", "")
    figure("CPU per 1 Hz cycle of 20 tokens", f"{cpu_write / args.cycles * 1000:.2f}", "ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
