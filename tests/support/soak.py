"""Soak: run the real collector against the simulator with scheduled faults, then judge the data.

    python tests/support/soak.py --duration 300                 # make soak-ci
    python tests/support/soak.py --duration 1800                # make soak DURATION=1800
    python tests/support/soak.py --duration 86400 --inventory .vps/default/inventory.ini   # not yet

Local mode (no --inventory): the simulator (polysim) runs in this process on
loopback, ``orderbooks collect --interval 1`` runs as a subprocess into
``.cache/soak/<UTC stamp>/``, and the schedule below injects, in each round, an
API outage (``down``), a 429 storm, a SIGKILL of the collector followed by a
restart within a second (what systemd's ``Restart=always`` does), a clean
restart (SIGTERM, then start) and disk pressure. Disk pressure puts the data
folder on a small tmpfs mounted for the soak and fills it with a ballast file
until free space is below ``--disk-floor-mb``; when mounting is not possible,
the collector is restarted with a huge ``--disk-floor-mb`` for the window
instead, and the manifest says so.

Afterwards the collector is stopped cleanly, ``orderbooks verify DIR --json``
and ``orderbooks.quality.analyze`` (fault windows excluded) run on the data,
and ``reports/soak-<UTC stamp>/`` gets ``soak.json`` (the manifest),
``soak.md``, ``quality.json``, ``verify.json`` and ``quality.png``. The
verdict rules are in ``soak_verdict``. Exit status: 0 PASS, 1 NEEDS_REVIEW,
2 bad option, 3 the soak could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderbooks import paths, plot, quality
from orderbooks.exitcodes import ExitCode
from polysim import start_simulator
from soak_verdict import EXPECTED_CAUSES, PASS, FaultWindow, decide

ROOT = Path(__file__).resolve().parents[2]
SOAK_SCHEMA = 1
INTERVAL_S = 1.0
WARMUP_S = 30.0
COOLDOWN_S = 30.0
#: Seconds each fault lasts (sigkill/restart: as long as the restart takes).
FAULT_SECONDS = {"down": 20.0, "429": 15.0, "sigkill": 0.0, "restart": 0.0, "disk": 15.0}
FAULT_ORDER = ("down", "429", "sigkill", "restart", "disk")
#: A slot must hold its fault plus this much calm before the next one.
MIN_CALM_S = 20.0
MIN_DURATION_S = WARMUP_S + COOLDOWN_S + len(FAULT_ORDER) * (max(FAULT_SECONDS.values()) + MIN_CALM_S)
RETRY_AFTER_S = 2
#: systemd restarts a killed service within this (RestartSec plus start-up).
RESTART_DELAY_S = 0.5
#: Excluded from the coverage figure around each fault: before its start, after its end.
EXCLUDE_BEFORE_MS = 2_000
EXCLUDE_AFTER_MS = 15_000  # the collector retries a failed discovery after at most 10 s
STOP_TIMEOUT_S = 30.0
FLOOR_MB = 32
HUGE_FLOOR_MB = 1 << 40  # far above any real disk: the floor is crossed at once
NORMAL_FLOOR_MB_ON_DISK = 1
INVENTORY_NOT_IMPLEMENTED = "inventory mode not implemented yet"


# ---------------------------------------------------------------- the schedule (pure)


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    at_s: float  # seconds after the soak's start
    seconds: float


def plan_schedule(duration_s: float, rounds: int = 1) -> list[PlannedFault]:
    """Every fault kind once per round, each centred in its own slot between warm-up and cool-down."""
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    usable = duration_s - WARMUP_S - COOLDOWN_S
    slot = usable / (rounds * len(FAULT_ORDER))
    if slot < max(FAULT_SECONDS.values()) + MIN_CALM_S:
        need = WARMUP_S + COOLDOWN_S + rounds * len(FAULT_ORDER) * (max(FAULT_SECONDS.values()) + MIN_CALM_S)
        raise ValueError(f"duration {duration_s:g}s is too short for {rounds} round(s): need >= {need:g}s")
    plan = []
    for i in range(rounds * len(FAULT_ORDER)):
        kind = FAULT_ORDER[i % len(FAULT_ORDER)]
        seconds = FAULT_SECONDS[kind]
        plan.append(PlannedFault(kind, round(WARMUP_S + i * slot + (slot - seconds) / 2, 3), seconds))
    return plan


def default_rounds(duration_s: float) -> int:
    """One round per hour of soak, at least one."""
    return max(1, int(duration_s // 3600))


def exclusion_windows(faults: list[FaultWindow]) -> list[tuple[int, int]]:
    return [(f.start_ms - EXCLUDE_BEFORE_MS, f.end_ms + EXCLUDE_AFTER_MS) for f in faults]


# ---------------------------------------------------------------- helpers


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(epoch_ms: int | None) -> str | None:
    return quality.ms_to_iso(epoch_ms)


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def log(message: str) -> None:
    print(f"[soak {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def manifest_records(data_dir: Path) -> list[dict[str, Any]]:
    """Every failure record and gap of every file manifest: ``{start_ms, end_ms, error}``."""
    out: list[dict[str, Any]] = []
    for path in sorted((data_dir / paths.RAW_DIR).rglob("*.manifest.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for rec in data.get("failures") or []:
            if isinstance(rec, dict) and isinstance(rec.get("t_ms"), int):
                out.append({"start_ms": rec["t_ms"], "end_ms": rec["t_ms"], "error": rec.get("error")})
        for gap in data.get("gaps") or []:
            if isinstance(gap, dict) and isinstance(gap.get("start_ms"), int):
                end = gap.get("end_ms") if isinstance(gap.get("end_ms"), int) else gap["start_ms"]
                out.append({"start_ms": gap["start_ms"], "end_ms": end, "error": gap.get("cause")})
    return out


# ---------------------------------------------------------------- the collector process


@dataclass
class Collector:
    """``orderbooks collect`` as a subprocess that we kill, restart and watch."""

    command: Callable[[int], list[str]]  # floor in MB -> argv
    log_path: Path
    floor_mb: int
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    unexpected_exits: list[str] = field(default_factory=list)

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.command(self.floor_mb), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1

    def watch(self) -> None:
        """Restart the collector if it exited without being told to (and note it)."""
        if self.proc is not None and self.proc.poll() is not None:
            self.unexpected_exits.append(
                f"collector exited on its own with status {self.proc.returncode} at {iso(now_ms())}"
            )
            log(self.unexpected_exits[-1] + "; restarting it")
            self.start()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int | None:
        """SIGTERM and wait; SIGKILL after STOP_TIMEOUT_S (and note it)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.unexpected_exits.append(f"collector ignored SIGTERM for {STOP_TIMEOUT_S:g}s; killed")
                proc.kill()
                proc.wait()
        if proc.returncode not in (0, None):
            self.unexpected_exits.append(f"collector stopped with status {proc.returncode}")
        return proc.returncode

    def restart(self, floor_mb: int | None = None) -> None:
        self.stop()
        if floor_mb is not None:
            self.floor_mb = floor_mb
        self.start()


# ---------------------------------------------------------------- disk pressure


@dataclass
class DiskPressure:
    """The data folder on its own small tmpfs, filled by a ballast file when asked."""

    mount_dir: Path
    size_mb: int
    floor_mb: int
    mounted: bool = False
    method: str = "tmpfs_ballast"
    note: str = ""
    ballast_bytes: int = 0
    free_during: int | None = None

    @property
    def ballast(self) -> Path:
        return self.mount_dir / "ballast.bin"

    def mount(self, allowed: bool = True) -> bool:
        if not allowed:
            self.method = "floor_raised_by_restart"
            self.note = (
                "tmpfs not used (--disk-pressure floor); disk pressure was simulated by restarting "
                f"the collector with --disk-floor-mb {HUGE_FLOOR_MB}"
            )
            return False
        self.mount_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.size_mb}m,mode=0755",
                "soak-tmpfs",
                str(self.mount_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            self.method = "floor_raised_by_restart"
            self.note = (
                f"mounting a tmpfs failed ({(result.stderr or result.stdout).strip()[:200]}); "
                "disk pressure was simulated by restarting the collector with "
                f"--disk-floor-mb {HUGE_FLOOR_MB}"
            )
            return False
        self.mounted = True
        self.note = (
            f"data folder on a {self.size_mb} MiB tmpfs; a ballast file took free space "
            f"below the {self.floor_mb} MiB floor"
        )
        return True

    def fill(self) -> None:
        """Leave half the floor free: the collector must pause writing."""
        target = free_bytes(self.mount_dir) - self.floor_mb * (1 << 20) // 2
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.posix_fallocate(fd, 0, max(target, 1))
        finally:
            os.close(fd)
        self.ballast_bytes = max(target, 1)
        self.free_during = free_bytes(self.mount_dir)

    def drain(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.ballast.unlink()

    def unmount(self) -> None:
        if self.mounted:
            self.drain()
            subprocess.run(["umount", str(self.mount_dir)], check=False)
            self.mounted = False


def tmpfs_size_mb(duration_s: float) -> int:
    """Room for the data (generously 20 kB/s at 20 tokens and 1 Hz), the floor, and slack."""
    return int(64 + 2 * FLOOR_MB + duration_s * 20_000 / (1 << 20))


# ---------------------------------------------------------------- the run


@dataclass
class Soak:
    duration_s: float
    rounds: int
    seed: int
    stamp: str
    cache_dir: Path
    reports_dir: Path
    collector_bin: Path
    use_tmpfs: bool = True
    faults: list[FaultWindow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def work_dir(self) -> Path:
        return self.cache_dir / self.stamp

    @property
    def data_dir(self) -> Path:
        return self.work_dir / "data"

    @property
    def report_dir(self) -> Path:
        return self.reports_dir / f"soak-{self.stamp}"

    def run(self) -> dict[str, Any]:
        plan = plan_schedule(self.duration_s, self.rounds)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        disk = DiskPressure(self.work_dir / "fs", tmpfs_size_mb(self.duration_s), FLOOR_MB)
        live_dir = disk.mount_dir / "data" if disk.mount(self.use_tmpfs) else self.data_dir
        live_dir.mkdir(parents=True, exist_ok=True)
        normal_floor = FLOOR_MB if disk.mounted else NORMAL_FLOOR_MB_ON_DISK
        started = now_ms()
        sim_stats: dict[str, Any] = {}
        log(f"soak {self.stamp}: {self.duration_s:g}s, {len(plan)} faults, data {live_dir}, {disk.method}")
        try:
            with start_simulator(port=0, control_port=0, window_seconds=10, seed=self.seed) as sim:

                def command(floor_mb: int) -> list[str]:
                    return [
                        str(self.collector_bin), "collect", "--data-dir", str(live_dir),
                        "--gamma-url", sim.gamma_url, "--clob-url", sim.clob_url,
                        "--interval", f"{INTERVAL_S:g}", "--disk-floor-mb", str(floor_mb),
                    ]  # fmt: skip

                collector = Collector(command, self.work_dir / "collect.log", normal_floor)
                self.commands.append(" ".join(command(normal_floor)))
                collector.start()
                t0 = time.monotonic()
                try:
                    for planned in plan:
                        self._wait_until(t0 + planned.at_s, collector)
                        self._inject(planned, sim, collector, disk, normal_floor)
                    self._wait_until(t0 + self.duration_s, collector)
                finally:
                    collector.stop()
                    self.problems.extend(collector.unexpected_exits)
                sim_stats = sim.stats()
            finished = now_ms()
            if disk.mounted:
                shutil.copytree(live_dir, self.data_dir, symlinks=True)
        finally:
            disk.unmount()
            with contextlib.suppress(OSError):
                disk.mount_dir.rmdir()  # empty once unmounted (or never mounted)
        return self._judge(started, finished, disk, collector, sim_stats)

    def _wait_until(self, deadline: float, collector: Collector) -> None:
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))
            collector.watch()

    def _inject(
        self, planned: PlannedFault, sim: Any, collector: Collector, disk: DiskPressure, normal_floor: int
    ) -> None:
        kind = planned.kind
        log(f"fault {kind} ({planned.seconds:g}s)")
        start = now_ms()
        if kind == "down":
            sim.set_faults(mode="down")
            self._wait_until(time.monotonic() + planned.seconds, collector)
            sim.set_faults(mode="none")
        elif kind == "429":
            sim.set_faults(mode="429", target="all", rate=1.0, retry_after=RETRY_AFTER_S)
            self._wait_until(time.monotonic() + planned.seconds, collector)
            sim.set_faults(mode="none")
        elif kind == "sigkill":
            collector.kill()
            time.sleep(RESTART_DELAY_S)
            collector.start()
        elif kind == "restart":
            collector.restart()
        elif kind == "disk":
            if disk.mounted:
                try:
                    disk.fill()
                except OSError as exc:
                    self.problems.append(f"disk pressure: ballast file failed: {exc}")
                if disk.free_during is not None and disk.free_during >= disk.floor_mb << 20:
                    self.problems.append(
                        f"disk pressure: free space {disk.free_during} B stayed above the floor"
                    )
                self._wait_until(time.monotonic() + planned.seconds, collector)
                disk.drain()
            else:
                collector.restart(HUGE_FLOOR_MB)
                self._wait_until(time.monotonic() + planned.seconds, collector)
                collector.restart(normal_floor)
        self.faults.append(FaultWindow.of(kind, start, now_ms()))

    def _verify(self) -> tuple[int | None, dict[str, Any] | None]:
        argv = [str(self.collector_bin), "verify", str(self.data_dir), "--json"]
        self.commands.append(" ".join(argv))
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        try:
            return result.returncode, json.loads(result.stdout)
        except ValueError:
            self.problems.append(f"orderbooks verify printed no JSON (status {result.returncode})")
            return result.returncode, None

    def _judge(
        self, started: int, finished: int, disk: DiskPressure, collector: Collector, sim_stats: dict[str, Any]
    ) -> dict[str, Any]:
        verify_rc, verify = self._verify()
        exclude = exclusion_windows(self.faults)
        report = quality.analyze(self.data_dir, interval_s=INTERVAL_S, exclude=exclude)
        records = manifest_records(self.data_dir)
        decision = decide(faults=self.faults, verify=verify, quality=report, records=records,
                          run_problems=self.problems)  # fmt: skip
        out = self.report_dir
        out.mkdir(parents=True, exist_ok=True)
        (out / "quality.json").write_bytes(json.dumps(report, indent=1).encode())
        (out / "verify.json").write_text(json.dumps(verify, indent=1) if verify is not None else "null")
        png = out / "quality.png"
        try:
            plot.render(report, png)
        except RuntimeError as exc:
            self.problems.append(f"no PNG: {exc}")
            png = None
        for item in decision["faults"]:
            item["start"], item["end"] = iso(item["start_ms"]), iso(item["end_ms"])
        totals = report["totals"]
        manifest = {
            "schema": SOAK_SCHEMA,
            "kind": "orderbooks.soak",
            "mode": "local",
            "stamp": self.stamp,
            "verdict": decision["verdict"],
            "reasons": decision["reasons"],
            "started_at": iso(started),
            "finished_at": iso(finished),
            "duration_s": self.duration_s,
            "rounds": self.rounds,
            "seed": self.seed,
            "interval_s": INTERVAL_S,
            "data_dir": str(self.data_dir),
            "collector": {
                "starts": collector.starts,
                "log": str(collector.log_path),
                "unexpected_exits": collector.unexpected_exits,
            },
            "simulator": {"window_seconds": 10, "fault_counts": sim_stats.get("fault_counts", {})},
            "disk_pressure": {
                "method": disk.method,
                "note": disk.note,
                "tmpfs_size_mb": disk.size_mb if disk.method == "tmpfs_ballast" else None,
                "floor_mb": FLOOR_MB if disk.method == "tmpfs_ballast" else HUGE_FLOOR_MB,
                "ballast_bytes": disk.ballast_bytes,
                "free_bytes_during": disk.free_during,
            },
            "faults": decision["faults"],
            "expected_causes": {k: list(v) for k, v in EXPECTED_CAUSES.items()},
            "excluded": [{"start_ms": a, "end_ms": b} for a, b in exclude],
            "exclude_margin_ms": {"before": EXCLUDE_BEFORE_MS, "after": EXCLUDE_AFTER_MS},
            "coverage_pct": decision["coverage_pct"],
            "min_coverage_pct": decision["min_coverage_pct"],
            "verify": {
                "exit": verify_rc,
                "ok": None if verify is None else verify.get("ok"),
                "counts": None if verify is None else verify.get("counts"),
                "problems": None if verify is None else list(verify.get("problems") or [])[:20],
            },
            "quality": {
                "span": report["span"],
                "files": report["files"],
                "rows": totals.get("rows"),
                "expected_cycles": totals.get("expected_cycles"),
                "observed_cycles": totals.get("observed_cycles"),
                "gaps": totals.get("gaps"),
                "gap_seconds": totals.get("gap_seconds"),
                "gaps_by_cause": totals.get("gaps_by_cause"),
                "failures_by_class": report["failures_by_class"],
                "latency_ms": totals.get("latency_ms"),
                "lateness_ms": totals.get("lateness_ms"),
                "problems": report["problems"],
            },
            "commands": self.commands,
            "files": {
                "manifest": str(out / "soak.json"),
                "summary": str(out / "soak.md"),
                "quality_json": str(out / "quality.json"),
                "verify_json": str(out / "verify.json"),
                "png": str(png) if png else None,
            },
        }
        (out / "soak.json").write_text(json.dumps(manifest, indent=1) + "\n")
        (out / "soak.md").write_text(render_summary(manifest))
        return manifest


def render_summary(manifest: dict[str, Any]) -> str:
    """The short human summary written next to soak.json."""
    lines = [
        f"# Soak {manifest['stamp']}: {manifest['verdict']}",
        "",
        f"- mode: {manifest['mode']}; {manifest['duration_s']:g} s from {manifest['started_at']} "
        f"to {manifest['finished_at']}; interval {manifest['interval_s']:g} s; seed {manifest['seed']}",
        f"- coverage outside the injected faults: {_pct(manifest['coverage_pct'])} "
        f"(PASS needs >= {manifest['min_coverage_pct']} %)",
        f"- verify: exit {manifest['verify']['exit']}, ok {manifest['verify']['ok']}, "
        f"counts {json.dumps(manifest['verify']['counts'])}",
        f"- disk pressure: {manifest['disk_pressure']['method']} ({manifest['disk_pressure']['note']})",
        f"- data: `{manifest['data_dir']}`; timeline: `quality.png`",
        "",
        "## Reasons" if manifest["reasons"] else "## Reasons: none",
        *[f"- {r}" for r in manifest["reasons"]],
        "",
        "## Injected faults",
        "",
        "| kind | start | end | expected cause | gaps overlapping | with expected cause "
        "| records | visible |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in manifest["faults"]:
        lines.append(
            f"| {f['kind']} | {f['start']} | {f['end']} | {'/'.join(f['expected_causes'])} | "
            f"{f['gaps_overlapping']} | {f['gaps_with_expected_cause']} | "
            f"{sum(f['records_with_expected_class'].values())} | "
            f"{'yes' if f['visible'] else ('not required' if not f['gap_required'] else 'NO')} |"
        )
    lines += [
        "",
        "Re-check the data:",
        "",
        "```sh",
        f".venv/bin/orderbooks verify {manifest['data_dir']}",
        f".venv/bin/orderbooks quality {manifest['data_dir']}",
        "```",
        "",
    ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} %"


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, required=True, help="seconds the soak runs")
    parser.add_argument("--rounds", type=int, help="fault rounds (default: one per hour, at least one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--inventory", help="soak a host provisioned by site.yml (not implemented yet)")
    parser.add_argument(
        "--allow-disk-pressure", action="store_true", help="inventory mode: also fill the disk"
    )
    parser.add_argument(
        "--disk-pressure", choices=("tmpfs", "floor"), default="tmpfs",
        help="tmpfs: data on a small tmpfs filled by a ballast file (falls back to floor when mounting "
        "fails); floor: restart the collector with a huge --disk-floor-mb for the window",
    )  # fmt: skip
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "soak")
    parser.add_argument("--reports-dir", type=Path, default=ROOT / "reports")
    parser.add_argument(
        "--collector-bin", type=Path, default=Path(sys.executable).with_name("orderbooks"),
        help="the orderbooks command (default: the one next to this Python)",
    )  # fmt: skip
    return parser.parse_args(argv)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the collector is stopped and the tmpfs unmounted."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.inventory:
        print(
            f"soak: {INVENTORY_NOT_IMPLEMENTED} (--inventory {args.inventory}); "
            "run the local soak without INVENTORY",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    rounds = args.rounds or default_rounds(args.duration)
    try:
        plan_schedule(args.duration, rounds)
    except ValueError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if not args.collector_bin.exists():
        print(f"soak: {args.collector_bin} not found (make setup)", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    soak = Soak(
        duration_s=args.duration, rounds=rounds, seed=args.seed, stamp=utc_stamp(),
        cache_dir=args.cache_dir.resolve(), reports_dir=args.reports_dir.resolve(),
        collector_bin=args.collector_bin, use_tmpfs=args.disk_pressure == "tmpfs",
    )  # fmt: skip
    try:
        with _sigterm_as_interrupt():
            manifest = soak.run()
    except KeyboardInterrupt:
        print("soak: interrupted; the collector was stopped, no verdict", file=sys.stderr)
        return ExitCode.INTERRUPTED
    print(json.dumps({k: manifest[k] for k in ("verdict", "reasons", "coverage_pct", "files")}, indent=1))
    return ExitCode.OK if manifest["verdict"] == PASS else ExitCode.FAILED


if __name__ == "__main__":
    sys.exit(main())
