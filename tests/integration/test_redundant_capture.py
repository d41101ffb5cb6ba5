"""Acceptance of issue 16 ("Done when"): two collectors on the same simulator, each frozen
(SIGSTOP/SIGCONT) for 12 s at a different time during a 45 s run.

- `orderbooks quality A B --json`: each source at or under 90 %, the union at or over 97 %;
- `orderbooks merge --out M A B` writes a folder that `orderbooks verify` accepts,
  holding each (token_id, timestamp, hash) once;
- `orderbooks quality M` gives the union's coverage within one point.

The freezes are placed against each collector's own first row (seen on disk), not
against the wall clock of the test, so a slow start under load moves them along.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
from orderbooks.exitcodes import ExitCode
from testkit.collect_runs import orderbooks_argv
from testkit.sealed_files import read_rows

DURATION = 45
FREEZE_S = 12
#: Seconds after the collector's first row at which each collector is frozen.
FREEZE_AT = {"a": 8, "b": 24}
INTERVAL = "0.5"
#: Host b writes the other on-disk layout (one stream per series and hour): both must merge.
LAYOUT = {"a": [], "b": ["--member-cycles", "10"]}


def first_row_seen(data_dir: Path, deadline: float) -> None:
    """Wait until the collector has written its first member (flush every cycle below)."""
    while time.monotonic() < deadline:
        raw = data_dir / "raw"
        if raw.is_dir() and any(p.stat().st_size > 0 for p in raw.rglob("*.partial")):
            return
        time.sleep(0.1)
    raise AssertionError(f"no row written under {data_dir}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*orderbooks_argv(), *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_two_frozen_collectors_merge_into_full_coverage(sim, collect, tmp_path: Path) -> None:
    # A fresh simulator answers its first /books slowly (hundreds of ms, more under load), which
    # would show as a start-up hole of both hosts; one short run first warms it.
    warmup = collect(sim, "--interval", INTERVAL, "--duration", "1", data_dir=tmp_path / "warmup")
    assert warmup.wait(timeout=60) == ExitCode.OK, warmup.stderr
    runs = {}
    for name in FREEZE_AT:
        runs[name] = collect(
            sim, "--interval", INTERVAL, "--duration", str(DURATION), "--flush-seconds", "0",
            *LAYOUT[name], data_dir=tmp_path / name,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    started = {}
    for name, run in runs.items():
        first_row_seen(run.data_dir, deadline)
        started[name] = time.monotonic()
    # Freeze each in turn, in the order of the schedule; SIGCONT always follows.
    for name in sorted(FREEZE_AT, key=FREEZE_AT.get):
        proc = runs[name].proc
        time.sleep(max(0.0, started[name] + FREEZE_AT[name] - time.monotonic()))
        proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(FREEZE_S)
        finally:
            proc.send_signal(signal.SIGCONT)
    for run in runs.values():
        assert run.wait(timeout=DURATION + 90) == ExitCode.OK, run.stderr
    a, b = runs["a"].data_dir, runs["b"].data_dir

    done = cli("quality", str(a), str(b), "--json")
    assert done.returncode == ExitCode.OK, done.stderr
    report = orjson.loads(done.stdout)
    coverage = {s["source"]: s["totals"]["coverage_pct"] for s in report["sources"]}
    union = report["totals"]["coverage_pct"]
    print(f"coverage by source {coverage}, union {union}")
    for gap in report["gaps"]:
        print("union gap", gap["start"], gap["duration_s"], gap["slug"], gap["cause"], gap["missing_sources"])
    print("span", report["span"], "runs", [(s["source"], s["span"]) for s in report["sources"]])
    assert set(coverage) == {"a", "b"}
    assert all(pct <= 90 for pct in coverage.values()), coverage
    assert union >= 97, (union, report["gaps"])

    merged = tmp_path / "m"
    done = cli("merge", "--out", str(merged), str(a), str(b), "--json")
    assert done.returncode == ExitCode.OK, done.stderr + done.stdout
    done = cli("verify", str(merged))
    assert done.returncode == ExitCode.OK, done.stdout
    rows = read_rows(merged)
    keys = Counter((r["token_id"], r["book"]["timestamp"], r["book"]["hash"]) for r in rows)
    assert rows and max(keys.values()) == 1
    sources = read_rows(a) + read_rows(b)
    assert any("-s" in p.name[-30:] for p in (b / "raw").rglob("*.jsonl.gz"))  # b: per-series files
    assert sum(len(r["observations"]) for r in rows) == len(sources)

    done = cli("quality", str(merged), "--json")
    assert done.returncode == ExitCode.OK, done.stderr
    merged_coverage = orjson.loads(done.stdout)["totals"]["coverage_pct"]
    assert abs(merged_coverage - union) <= 1, (merged_coverage, union)
