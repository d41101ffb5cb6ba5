"""Soak: run the real collector against the simulator with scheduled faults, then judge the data.

    python tools/harness/soak.py --duration 300                 # make soak DURATION=300
    python tools/harness/soak.py --duration 1800                # make soak DURATION=1800
    python tools/harness/soak.py --duration 1800 --inventory .vps/soak/inventory.ini   # make soak-vps

Inventory mode (--inventory): the real ``orderbooks-collector.service`` on the
inventory's host, pointed at this process's simulator by a runtime drop-in;
see ``soak_inventory`` (the run) and ``soak_host`` (the host side). The
schedule (``soak_schedule``) and the judgement and report (``soak_report``)
are the same in both modes.

Local mode (no --inventory): the simulator (polysim) runs in this process on
loopback, ``orderbooks collect --interval 1`` runs as a subprocess into
``.cache/soak/<UTC stamp>/``, and the schedule (``soak_schedule``) injects, in each round, an
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
2 bad option, 3 the soak could not run (in inventory mode also: the host does
not answer, is not provisioned, or cannot reach the simulator), 130 interrupted.
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

from orderbooks.clock import SystemClock
from orderbooks.exitcodes import ExitCode
from polysim import start_simulator

from harness.soak_host import HostError
from harness.soak_inventory import InventorySoak
from harness.soak_report import SoakFolders, disk_pressure_facts, iso
from harness.soak_schedule import (
    FAULT_ORDER,
    INTERVAL_S,
    MIN_DURATION_S,
    WARMUP_S,
    default_rounds,
    exclusion_windows,
    plan_schedule,
    play,
)
from harness.soak_verdict import PASS

ROOT = Path(__file__).resolve().parents[2]
#: systemd restarts a killed service within this (RestartSec plus start-up).
RESTART_DELAY_S = 0.5
STOP_TIMEOUT_S = 30.0
FLOOR_MB = 32
HUGE_FLOOR_MB = 1 << 40  # far above any real disk: the floor is crossed at once
NORMAL_FLOOR_MB_ON_DISK = 1

#: Re-exported for callers and tests that know the schedule by this module's name.
__all__ = ["FAULT_ORDER", "MIN_DURATION_S", "WARMUP_S", "exclusion_windows", "main", "plan_schedule"]


# ---------------------------------------------------------------- helpers


def now_ms() -> int:
    return int(time.time() * 1000)


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def log(message: str) -> None:
    print(f"[soak {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
class LocalTarget:
    """The schedule's view of the local collector subprocess and its tmpfs (soak_schedule.Target)."""

    collector: Collector
    disk: DiskPressure
    normal_floor: int
    problems: list[str]

    def now_ms(self) -> int:
        return now_ms()

    def watch(self) -> None:
        self.collector.watch()

    def sigkill(self) -> dict[str, Any]:
        start = now_ms()
        self.collector.kill()
        time.sleep(RESTART_DELAY_S)
        self.collector.start()
        return {"start_ms": start, "end_ms": now_ms()}

    def restart(self) -> dict[str, Any]:
        start = now_ms()
        self.collector.restart()
        return {"start_ms": start, "end_ms": now_ms()}

    def disk_begin(self) -> None:
        disk = self.disk
        if not disk.mounted:
            self.collector.restart(HUGE_FLOOR_MB)
            return
        try:
            disk.fill()
        except OSError as exc:
            self.problems.append(f"disk pressure: ballast file failed: {exc}")
        if disk.free_during is not None and disk.free_during >= disk.floor_mb << 20:
            self.problems.append(f"disk pressure: free space {disk.free_during} B stayed above the floor")

    def disk_end(self) -> None:
        if self.disk.mounted:
            self.disk.drain()
        else:
            self.collector.restart(self.normal_floor)


@dataclass
class Soak(SoakFolders):
    collector_bin: Path
    use_tmpfs: bool = True
    problems: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

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
                target = LocalTarget(collector, disk, normal_floor, self.problems)
                try:
                    played = play(plan, self.duration_s, sim=sim, target=target, clock=SystemClock(), log=log)
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
        header = {
            **self.run_header("local", started, finished),
            "collector": {
                "starts": collector.starts,
                "log": str(collector.log_path),
                "unexpected_exits": collector.unexpected_exits,
            },
            "simulator": {"window_seconds": 10, "fault_counts": sim_stats.get("fault_counts", {})},
            "disk_pressure": disk_pressure_facts(disk, FLOOR_MB, HUGE_FLOOR_MB),
        }
        return self.write_report(played, header)


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=float, required=True, help="seconds the soak runs")
    parser.add_argument("--rounds", type=int, help="fault rounds (default: one per hour, at least one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--inventory", type=Path,
        help="soak orderbooks-collector.service on this inventory's host (site.yml); the host must reach "
        "127.0.0.1 of this machine (the disposable VPS)",
    )  # fmt: skip
    parser.add_argument(
        "--host", help="inventory mode: the host to soak (default: the one host of group orderbooks)"
    )
    parser.add_argument(
        "--keep-host-data", action="store_true",
        help="inventory mode: leave /var/lib/orderbooks/soak-<stamp> on the host",
    )  # fmt: skip
    parser.add_argument(
        "--disk-pressure", choices=("auto", "tmpfs", "floor"), default="auto",
        help="tmpfs: data on a small tmpfs filled by a ballast file (falls back to floor when mounting "
        "fails); floor: restart the collector with a huge disk floor for the window; auto (default): "
        "tmpfs locally and on a host with orderbooks_disposable_vps=true, floor on any other host",
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
    rounds = args.rounds or default_rounds(args.duration)
    try:
        plan_schedule(args.duration, rounds)
    except ValueError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if not args.collector_bin.exists():
        print(f"soak: {args.collector_bin} not found (make setup)", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    if args.inventory is not None:
        return _main_inventory(args, rounds)
    soak = Soak(
        duration_s=args.duration, rounds=rounds, seed=args.seed, stamp=utc_stamp(),
        cache_dir=args.cache_dir.resolve(), reports_dir=args.reports_dir.resolve(),
        collector_bin=args.collector_bin, use_tmpfs=args.disk_pressure != "floor",
    )  # fmt: skip
    try:
        with _sigterm_as_interrupt():
            manifest = soak.run()
    except KeyboardInterrupt:
        print("soak: interrupted; the collector was stopped, no verdict", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return _print_result(manifest)


def _main_inventory(args: argparse.Namespace, rounds: int) -> int:
    if not args.inventory.is_file():
        print(
            f"soak: no inventory at {args.inventory} (make vps-up, or start from inventory.example)",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    ansible_inventory = Path(sys.executable).with_name("ansible-inventory")
    soak = InventorySoak(
        inventory=args.inventory.resolve(), host=args.host, duration_s=args.duration, rounds=rounds,
        seed=args.seed, stamp=utc_stamp(), cache_dir=args.cache_dir.resolve(),
        reports_dir=args.reports_dir.resolve(), collector_bin=args.collector_bin,
        ansible_inventory=str(ansible_inventory) if ansible_inventory.exists() else "ansible-inventory",
        disk_pressure=args.disk_pressure, keep_host_data=args.keep_host_data, log=log,
    )  # fmt: skip
    try:
        with _sigterm_as_interrupt():
            manifest = soak.run()
    except KeyboardInterrupt:
        print(f"soak: interrupted; host service restored: {soak.restored}, no verdict", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except HostError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        if soak.restored is False:
            print("soak: the host's service was NOT restored; see the message above", file=sys.stderr)
        return ExitCode.ENVIRONMENT
    return _print_result(manifest)


def _print_result(manifest: dict[str, Any]) -> int:
    print(json.dumps({k: manifest[k] for k in ("verdict", "reasons", "coverage_pct", "files")}, indent=1))
    return ExitCode.OK if manifest["verdict"] == PASS else ExitCode.FAILED


if __name__ == "__main__":
    sys.exit(main())
