"""Stored bytes per snapshot row and per day at the defaults, and the compression-level trade-off.

    python tools/bench/bench_storage_size.py [--from DATA_DIR] [--tokens 20] [--interval 1]

Reads the members of the data files in DATA_DIR (default: rows written by the
real writer from fabricated answers, see bench_write_path.py) and compresses
each member's rows again as one gzip member at levels 1, 3, 6 and 9 (one
member per cycle with ``--member-cycles 0``; a series' N cycles in the
per-series layout). bench_storage_layout.py compares the two layouts. Prints bytes per row, bytes per day for
TOKENS tokens polled every INTERVAL seconds, and CPU per 1000 rows.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import build_rows, cycle_bodies, figure, machine
from orderbooks.store import gzmembers, paths
from orderbooks.store.writer import _serialize

LEVELS = (1, 3, 6, 9)


def members_from(data_dir: Path, limit: int) -> list[bytes]:
    out: list[bytes] = []
    for path in paths.iter_files(data_dir, paths.DATA_SUFFIX):
        with open(path, "rb") as handle:
            for member in gzmembers.iter_members(handle):
                if member.data:
                    out.append(member.data)
                if len(out) >= limit:
                    return out
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="source", type=Path, help="a data folder (e.g. the collector benchmark's)"
    )
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--members", type=int, default=2000, help="members to sample")
    args = parser.parse_args()

    if args.source:
        members = members_from(args.source, args.members)
        origin = f"{len(members)} members (cycles) from {args.source}"
    else:
        bodies, metas = cycle_bodies(tokens=args.tokens)
        members = [
            b"".join(
                _serialize(r) for r in build_rows(bodies[c % len(bodies)], metas, c, 1_778_580_000_000 + c)
            )
            for c in range(min(args.members, 600))
        ]
        origin = f"{len(members)} fabricated cycles of {args.tokens} tokens"
    if not members:
        print("no rows found")
        return 1
    rows = sum(m.count(b"\n") for m in members)
    raw = sum(len(m) for m in members)
    rows_per_day = args.tokens * 86_400 / args.interval
    print(f"storage size benchmark ({machine()}); {origin}; {rows} rows")
    figure("raw JSON per row", f"{raw / rows:.0f}", "bytes")
    for level in LEVELS:
        cpu0 = time.process_time()
        stored = sum(len(gzmembers.compress_member(m, level)) for m in members)
        cpu = time.process_time() - cpu0
        default = " (default)" if level == 6 else ""
        figure(
            f"level {level}{default}: stored per row",
            f"{stored / rows:.0f}",
            "bytes",
            f"ratio {raw / stored:.1f}x",
        )
        figure(
            f"level {level}{default}: per day ({args.tokens} tokens, {args.interval:g} s)",
            f"{stored / rows * rows_per_day / 1e6:.0f}",
            "MB/day",
        )
        figure(f"level {level}{default}: CPU per 1000 rows", f"{cpu / rows * 1e6:.1f}", "ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
