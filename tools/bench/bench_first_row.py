"""Delay from a window's start to its first row, with books that open only at the window start.

    python tools/bench/bench_first_row.py [--duration 120] [--window-seconds 10] [--interval 1]

Starts the simulator in this process with the real API's pre-listing
behaviours (``full_day``: about a day of windows listed ahead;
``book_at_start``: ``enableOrderBook: false`` and no CLOB book until the window
starts), then `orderbooks collect` for every series as a subprocess. For every
window that starts while the collector runs, the delay is the first row's
``recv_ms`` inside the window minus the window start. Target: p99 <= one poll
interval + 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, figure, machine
from polysim import start_simulator
from testkit.sealed_files import read_rows

SERIES = "10684,10192,10114,10331,41"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--window-seconds", type=float, default=10.0, help="the 5m series' window length")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("orderbooks")
    with (
        start_simulator(window_seconds=args.window_seconds, seed=7) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim.set_behaviour(full_day=True, book_at_start=True)
        data_dir = Path(tmp) / "data"
        argv = [str(exe), "collect", "--data-dir", str(data_dir), "--gamma-url", sim.gamma_url]
        argv += ["--clob-url", sim.clob_url, "--series", SERIES, "--interval", str(args.interval)]
        argv += ["--duration", str(args.duration), "--log-level", "warning"]
        subprocess.run(argv, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        rows = read_rows(data_dir)
        first = min(r["recv_ms"] for r in rows)
        last = max(r["recv_ms"] for r in rows)
        delays = []
        for market in sim.markets_between(first, last):
            if market["start_ms"] <= first or market["start_ms"] + 2_000 > last:
                continue  # started before the first poll, or too near the end to judge
            inside = [
                r["recv_ms"]
                for r in rows
                if r["condition_id"] == market["condition_id"] and r["recv_ms"] >= market["start_ms"]
            ]
            delays.append((min(inside) - market["start_ms"]) / 1000 if inside else float("inf"))
    target = args.interval + 1.0
    p99 = percentile(delays, 0.99)
    print(f"# first row after window start; {machine()}")
    figure("windows started during the run", len(delays))
    figure("delay p50", f"{statistics.median(delays):.3f}", "s")
    figure("delay p99", f"{p99:.3f}", "s", f"target <= {target:g} s: {'met' if p99 <= target else 'NOT met'}")
    figure("delay max", f"{max(delays):.3f}", "s")
    figure("windows without a row", sum(1 for d in delays if d == float("inf")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
