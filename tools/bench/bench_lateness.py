"""Schedule lateness and request latency of collected data, from `orderbooks quality`.

    python tools/bench/bench_lateness.py DATA_DIR

Lateness = recv_ms minus the cycle's due time (docs/quality.md explains how the
due time is derived). Target on loopback: p99 under 20 ms.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import figure, machine
from orderbooks import quality


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds after the first row left out (cold start)"
    )
    args = parser.parse_args()
    whole = quality.analyze(args.data_dir)
    since = whole["span"]["start_ms"] + round(args.warmup * 1000) if whole["span"]["start_ms"] else None
    report = quality.analyze(args.data_dir, since_ms=since)
    totals = report["totals"]
    print(
        f"lateness from {args.data_dir} ({machine()}); after a {args.warmup:g} s warm-up; "
        f"{totals['rows']} rows, "
        f"interval {report['interval_s']:g} s"
    )
    for name in ("lateness_ms", "latency_ms"):
        for q in ("p50", "p99", "max"):
            note = "target < 20 ms" if (name, q) == ("lateness_ms", "p99") else ""
            figure(f"{name.replace('_ms', '')} {q}", totals[name][q], "ms", note)
    figure("lateness max incl. warm-up (cold start)", whole["totals"]["lateness_ms"]["max"], "ms")
    figure("coverage", totals["coverage_pct"], "%")
    figure("gaps", totals["gaps"], "", str(totals["gaps_by_cause"] or ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
