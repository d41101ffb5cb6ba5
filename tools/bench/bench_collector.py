"""The collector's cost on a small VPS: steady CPU and peak RSS at 1 Hz with about 20 tokens.

    python tools/bench/bench_collector.py [--warmup 30] [--measure 60] [--data-dir DIR]

Starts the simulator (tools/polysim) as its own process on loopback
with 300 s windows for every series (5 series x current + next window x 2
tokens = 20 tokens), then `orderbooks collect --interval 1` as another process.
After the warm-up it reads the collector's utime + stime from /proc/<pid>/stat,
again MEASURE seconds later, and its peak RSS (VmHWM) from /proc/<pid>/status
just before it stops. Targets: CPU <= 2 % of one core, peak RSS <= 50 MB.
The data folder is kept for bench_lateness.py and bench_storage_size.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson
from _common import ROOT, figure, machine
from orderbooks.store import gzmembers, paths

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cycles_of(data_dir: Path) -> dict[tuple[str, int], list[bytes]]:
    """(run id, cycle) -> the cycle's row lines, across the run's files (one per series or one per hour)."""
    per_cycle: dict[tuple[str, int], list[bytes]] = {}
    for path in paths.iter_files(data_dir, paths.DATA_SUFFIX):
        match = paths.STEM_RE.match(paths.stem_of(path))
        run = match["run_id"] if match else path.name
        with open(path, "rb") as handle:
            for member in gzmembers.iter_members(handle):
                for line in gzmembers.split_lines(member.data):
                    per_cycle.setdefault((run, orjson.loads(line)["cycle"]), []).append(line + b"\n")
    return per_cycle


def tokens_per_cycle(per_cycle: dict[tuple[str, int], list[bytes]]) -> tuple[float, int]:
    counts = [len(lines) for lines in per_cycle.values()]
    return (statistics.median(counts) if counts else 0.0), sum(counts)


def stored_bytes(data_dir: Path) -> int:
    return sum(path.stat().st_size for path in paths.iter_files(data_dir, paths.DATA_SUFFIX))


def old_layout_bytes(per_cycle: dict[tuple[str, int], list[bytes]], level: int = 6) -> int:
    """The very same rows as today's layout stores them: one member per cycle, every token."""
    return sum(len(gzmembers.compress_member(b"".join(lines), level)) for lines in per_cycle.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--measure", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench" / "collector")
    parser.add_argument(
        "--member-cycles", type=int, default=0, help="collector --member-cycles (0: old layout)"
    )
    parser.add_argument("--book-levels", type=int, default=None, help="simulator --book-levels (deep books)")
    parser.add_argument("--book-changes", type=int, default=3, help="simulator --book-changes")
    args = parser.parse_args()
    book_args = [] if args.book_levels is None else ["--book-levels", str(args.book_levels)]
    book_args += ["--book-changes", str(args.book_changes)]

    if args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True)
    port, control = free_port(), free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "polysim", "--port", str(port), "--control-port", str(control),
         "--window-seconds", "300", "--same-window", "--prelist", "3", *book_args],
        cwd=ROOT / "tests" / "support", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    collector = None
    try:
        ready = orjson.loads(sim.stdout.readline())  # the polysim_ready line
        duration = args.warmup + args.measure + 5
        log = open(args.data_dir.parent / "collector.log", "wb")  # noqa: SIM115 - closed below
        collector = subprocess.Popen(
            [str(Path(sys.executable).parent / "orderbooks"), "collect", "--data-dir", str(args.data_dir),
             "--gamma-url", ready["gamma_url"], "--clob-url", ready["clob_url"],
             "--interval", str(args.interval), "--duration", str(duration),
             "--member-cycles", str(args.member_cycles)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ORDERBOOKS_LOG_LEVEL": "warning"},
        )  # fmt: skip
        time.sleep(args.warmup)
        cpu0, t0 = cpu_seconds(collector.pid), time.monotonic()
        time.sleep(args.measure)
        cpu1, t1 = cpu_seconds(collector.pid), time.monotonic()
        hwm_kb = status_kb(collector.pid, "VmHWM")
        rss_kb = status_kb(collector.pid, "VmRSS")
        code = collector.wait(timeout=60)
        log.close()
    finally:
        if collector is not None and collector.poll() is None:
            collector.kill()
        sim.terminate()
        sim.wait(timeout=10)
    per_cycle = cycles_of(args.data_dir)
    tokens, rows = tokens_per_cycle(per_cycle)
    stored, old = stored_bytes(args.data_dir), old_layout_bytes(per_cycle)
    cpu_pct = (cpu1 - cpu0) / (t1 - t0) * 100
    print(
        f"collector benchmark ({machine()}); interval {args.interval:g} s, warm-up {args.warmup:g} s, "
        f"measured {t1 - t0:.0f} s; collector exit {code}; data in {args.data_dir}"
    )
    figure("tokens per cycle (median)", f"{tokens:g}")
    figure("rows written", rows)
    figure("steady CPU, % of one core", f"{cpu_pct:.2f}", "%", "target <= 2 %")
    figure("CPU per cycle", f"{(cpu1 - cpu0) / (t1 - t0) * args.interval * 1000:.1f}", "ms")
    figure("peak RSS (VmHWM)", f"{hwm_kb / 1024:.1f}", "MiB", "target <= 50 MB")
    figure("RSS at the end (VmRSS)", f"{rss_kb / 1024:.1f}", "MiB")
    layout = f"member every {args.member_cycles} cycles" if args.member_cycles else "one member per cycle"
    figure(f"stored bytes ({layout})", stored, "bytes", f"{stored / max(rows, 1):.0f} B/row")
    figure("same rows, one member per cycle", old, "bytes", f"{old / max(rows, 1):.0f} B/row")
    figure("stored / one member per cycle", f"{stored / max(old, 1):.3f}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
