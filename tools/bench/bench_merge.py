"""Peak memory and time of `orderbooks merge` (and `orderbooks quality` on the copies) on
three hosts' fabricated data.

    python tools/bench/bench_merge.py [--hours 24] [--levels 10] [--data-dir .cache/bench/merge]

Three hosts' folders are written through the real SnapshotWriter
(tools/testkit/fabricate.py): the five BTC series, both tokens of every open
market, one cycle a second, books changing every 3rd cycle, hosts 0.3 s apart,
each down for a different 10 minutes. Then `orderbooks merge` and `orderbooks
quality A B C --json` run as subprocesses; their peak RSS (getrusage of the
child) and wall time are printed, with the rows read and states written. The
fabricated folders are kept under --data-dir and reused when they exist.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
from _common import ROOT, figure, machine
from testkit.fabricate import T0_MS, Scenario, write_run

SERIES = {"10684": 300, "10192": 900, "10114": 3600, "10331": 14400, "41": 86400}
HOSTS = ("host-a", "host-b", "host-c")


def fabricate(data_dir: Path, hours: float, levels: int) -> None:
    cycles = round(hours * 3600)
    for index, host in enumerate(HOSTS):
        folder = data_dir / host
        if (folder / "runs").is_dir():
            continue
        down = cycles // 4 * (index + 1)
        scenario = Scenario(
            start_ms=T0_MS + 300 * index, cycles=cycles, series=SERIES, change_every=3, levels=levels,
            outages=[(down, min(cycles, down + 600), "timeout")], flush_seconds=10,
        )  # fmt: skip
        started = time.monotonic()
        result = write_run(folder, scenario)
        figure(f"fabricated {host}", result["rows"], "rows", f"{time.monotonic() - started:.0f} s")


def measured(argv: list[str]) -> tuple[float, float, bytes]:
    """(peak RSS MiB, wall s, stdout) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, check=False)
    wall = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr.decode())
        raise SystemExit(f"{argv[1:3]} failed with {done.returncode}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        print("note: RUSAGE_CHILDREN keeps the largest child so far; run one measurement per process")
    return peak / 1024, wall, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--levels", type=int, default=10, help="levels per side of a fabricated book")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench" / "merge")
    parser.add_argument("--what", choices=("merge", "quality"), default="merge")
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.hours:g} h of 3 hosts, {args.levels} levels a side")
    fabricate(args.data_dir, args.hours, args.levels)
    sources = [str(args.data_dir / h) for h in HOSTS]
    exe = [sys.executable, "-m", "orderbooks"]
    if args.what == "merge":
        out = args.data_dir / "merged"
        shutil.rmtree(out, ignore_errors=True)
        peak, wall, stdout = measured([*exe, "merge", "--out", str(out), *sources, "--json"])
        summary = orjson.loads(stdout)
        figure("merge: rows read", summary["rows_read"])
        figure("merge: states written", summary["states"])
        figure("merge: hourly files", len(summary["files"]))
        figure("merge: peak RSS", f"{peak:.0f}", "MiB")
        figure("merge: wall time", f"{wall:.0f}", "s", f"{summary['rows_read'] / wall:.0f} rows/s")
    else:
        peak, wall, stdout = measured([*exe, "quality", *sources, "--json"])
        report = orjson.loads(stdout)
        figure("quality A B C: union coverage", report["totals"]["coverage_pct"], "%")
        figure("quality A B C: peak RSS", f"{peak:.0f}", "MiB")
        figure("quality A B C: wall time", f"{wall:.0f}", "s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
