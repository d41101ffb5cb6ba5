"""Inventory mode of the soak: the real systemd service on a host provisioned by ``ansible/site.yml``.

The simulator runs in this process, bound to 127.0.0.1 of the controller. The
host must reach it there, which holds for the disposable VPS (it shares the
controller's network namespace; ``vps.py --hosts-entry`` maps the simulator's
names to 127.0.0.1) and NOT for a real remote VPS: its 127.0.0.1 is itself.
The soak probes the simulator from the host before it touches the service and
stops with exit 3 when the probe fails, rather than soaking nothing.

Steps: preflight (service active, release installed, host facts, clock offset,
simulator probe); the soak data folder ``/var/lib/orderbooks/soak-<stamp>/data``
(on the disposable VPS on its own tmpfs, for the disk-pressure ballast); the
runtime drop-in and env file, daemon-reload, restart; first rows; the shared
schedule (``soak_schedule.play``); then, always (try/finally, Ctrl-C and
SIGTERM included): drop-ins removed, daemon-reload, restart, service active
again. Then ``orderbooks verify`` on the host, the data copied to
``.cache/soak/<stamp>/data``, the soak folder removed from the host, and the
shared judgement and report (``soak_report``).
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.clock import SystemClock
from polysim import start_simulator

from harness.soak_host import (
    DROPIN_DIR,
    DROPIN_FLOOR,
    DROPIN_MAIN,
    ENV_FLOOR,
    ENV_MAIN,
    FACTS,
    FIRST_ROWS,
    HOST_ORDERBOOKS,
    HOST_PYTHON,
    PROBE,
    RUNTIME_DIR,
    SERVICE,
    SIM_NAMES,
    HostDisk,
    HostError,
    HostService,
    HostShell,
    dropin_text,
    env_text,
    is_disposable,
    is_soak_root,
    load_inventory,
    parse_show,
    pick_host,
    signals_deferred,
    sim_urls,
    soak_paths,
    writable_by_unit,
)
from harness.soak_report import (
    SoakFolders,
    disk_pressure_facts,
    parse_verify_output,
    verify_summary,
)
from harness.soak_schedule import INTERVAL_S, plan_schedule, play

FLOOR_MB = 32
HUGE_FLOOR_MB = 1 << 40
FIRST_ROWS_WAIT_S = 30


def tmpfs_size_mb(duration_s: float) -> int:
    """Room for the data (generously 20 kB/s at 20 tokens and 1 Hz), the floor, and slack."""
    return int(64 + 2 * FLOOR_MB + duration_s * 20_000 / (1 << 20))


class SimulatorUnreachable(HostError):
    """The host cannot reach the soak's simulator (a real remote VPS, a firewall, a wrong name)."""


@dataclass
class InventorySoak(SoakFolders):
    inventory: Path
    host: str | None
    collector_bin: Path
    ansible_inventory: str
    disk_pressure: str = "auto"  # auto | tmpfs | floor
    keep_host_data: bool = False
    log: Callable[[str], None] = print
    problems: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    restored: bool | None = None
    restore_detail: str = ""

    # ------------------------------------------------------------ the run
    def run(self) -> dict[str, Any]:
        plan = plan_schedule(self.duration_s, self.rounds)
        name, hostvars = pick_host(load_inventory(self.inventory, self.ansible_inventory), self.host)
        disposable = is_disposable(hostvars)
        shell = HostShell(name, hostvars, self.commands)
        self.log(
            f"soak {self.stamp}: host {name} ({self.inventory}), {self.duration_s:g}s, {len(plan)} faults"
        )
        shell.open()
        try:
            return self._run_on(shell, name, disposable, plan)
        finally:
            shell.close()

    def _run_on(self, shell: HostShell, name: str, disposable: bool, plan: list) -> dict[str, Any]:
        unit = self._preflight(shell)
        base_dir = unit["WorkingDirectory"]
        root, host_data = soak_paths(base_dir, self.stamp)
        if not writable_by_unit(host_data, unit.get("ReadWritePaths", "")):
            raise HostError(
                f"{host_data} is not under {SERVICE}'s ReadWritePaths ({unit.get('ReadWritePaths')})"
            )
        offset, rtt = shell.clock_offset()
        self.log(f"host clock offset {offset} ms (round trip {rtt} ms); disposable VPS: {disposable}")
        method = self._disk_method(disposable)
        disk = HostDisk(
            shell, root, method, FLOOR_MB, HUGE_FLOOR_MB, tmpfs_size_mb(self.duration_s), self.stamp
        )
        service = HostService(shell, offset, disk, self.problems, expected_pid=unit["MainPID"])
        sim_stats: dict[str, Any] = {}
        host_verify: dict[str, Any] | None = None
        started = finished = None
        with start_simulator(
            host="127.0.0.1", port=0, control_port=0, window_seconds=10, seed=self.seed
        ) as sim:
            gamma_url, clob_url = self._probe(shell, sim)
            try:
                self._make_data_dir(shell, disk, root=root, data=host_data, base_dir=base_dir, unit=unit)
                try:
                    settings = {"data_dir": host_data, "gamma_url": gamma_url, "clob_url": clob_url,
                                "interval": f"{INTERVAL_S:g}"}  # fmt: skip
                    if method == "tmpfs_ballast":
                        settings["disk_floor_mb"] = FLOOR_MB
                    shell.run(f"install -d -m 0755 {RUNTIME_DIR} {DROPIN_DIR}")
                    shell.write_file(ENV_MAIN, env_text(settings, self.stamp))
                    shell.write_file(DROPIN_MAIN, dropin_text(ENV_MAIN, self.stamp))
                    shell.run("systemctl daemon-reload")
                    started = service.now_ms()
                    restart = service.restart_now()
                    self.log(f"{SERVICE} restarted on the soak's drop-in: pid {restart['new_pid']}")
                    self._first_rows(shell, host_data)
                    played = play(
                        plan, self.duration_s, sim=sim, target=service, clock=SystemClock(), log=self.log
                    )
                    finished = service.now_ms()
                    sim_stats = sim.stats()
                finally:
                    self._restore(shell)
                host_verify = self._host_verify(shell, host_data)
                shell.fetch_tree(host_data, self.data_dir)
                self.log(f"soak data copied to {self.data_dir}")
            finally:
                self._remove_data_dir(shell, disk, root, base_dir)
        header = {
            **self.run_header("inventory", started, finished),
            "inventory": str(self.inventory),
            "host": {
                "name": name,
                "disposable_vps": disposable,
                "facts": self.facts,
                "clock_offset_ms": offset,
                "clock_round_trip_ms": rtt,
                "data_dir": host_data,
                "data_kept_on_host": self.keep_host_data,
                "dropins": [DROPIN_MAIN] + ([DROPIN_FLOOR] if method != "tmpfs_ballast" else []),
                "service_restored": self.restored,
                "service_after": self.restore_detail,
            },
            "collector": {
                "service": SERVICE,
                "starts": service.restarts_by_soak + len(service.unexpected),
                "restarts_by_soak": service.restarts_by_soak,
                "unexpected_exits": service.unexpected,
                "log": f"journalctl -u {SERVICE} on {name}",
            },
            "simulator": {
                "window_seconds": 10,
                "gamma_url": gamma_url,
                "clob_url": clob_url,
                "fault_counts": sim_stats.get("fault_counts", {}),
            },
            "disk_pressure": disk_pressure_facts(disk, FLOOR_MB, HUGE_FLOOR_MB),
            "host_verify": host_verify,
        }
        return self.write_report(played, header)

    # ------------------------------------------------------------ steps
    def _preflight(self, shell: HostShell) -> dict[str, str]:
        props = (
            "ActiveState",
            "MainPID",
            "User",
            "Group",
            "WorkingDirectory",
            "ReadWritePaths",
            "DropInPaths",
        )
        unit = parse_show(shell.run(f"systemctl show {' '.join('-p ' + p for p in props)} {SERVICE}").stdout)
        if unit.get("ActiveState") != "active":
            raise HostError(f"{SERVICE} is {unit.get('ActiveState')!r}, not active: run make cutover first")
        if (
            DROPIN_DIR in unit.get("DropInPaths", "")
            or shell.run(f"test -e {RUNTIME_DIR}", check=False).returncode == 0
        ):
            raise HostError(
                f"{RUNTIME_DIR} or a drop-in in {DROPIN_DIR} exists: another soak is running on this host "
                "(or one was cut off; remove them, then `systemctl daemon-reload && systemctl restart "
                f"{SERVICE}`)"
            )
        if not unit.get("WorkingDirectory") or not unit.get("User"):
            raise HostError(f"{SERVICE} has no WorkingDirectory/User: not a unit from ansible/site.yml")
        shell.run(f"test -x {HOST_ORDERBOOKS}")
        facts = shell.run(FACTS.format(name=SIM_NAMES[0])).stdout
        self.facts = parse_show(facts)
        return unit

    def _probe(self, shell: HostShell, sim: Any) -> tuple[str, str]:
        """The URLs the host reaches the simulator by; SimulatorUnreachable when it cannot."""
        by_name = self.facts.get("sim_names", "").startswith("127.")
        gamma_url, clob_url = sim_urls(by_name, sim.port)
        before = sim.stats()["requests"].get("GET /", 0)
        urls = [clob_url, f"{gamma_url}/events?closed=false&limit=1"]
        probe = shell.run(f"{HOST_PYTHON} -c {shlex.quote(PROBE)} {' '.join(map(shlex.quote, urls))}",
                          check=False)  # fmt: skip
        after = sim.stats()["requests"].get("GET /", 0)
        if probe.returncode != 0 or after <= before:
            said = (probe.stderr or probe.stdout).strip().splitlines()[-1:]
            raise SimulatorUnreachable(
                f"the host cannot reach the soak's simulator at {clob_url} "
                f"({said[0][-200:] if said else 'the probe did not arrive'}). "
                "The simulator listens on 127.0.0.1 of this machine: only a host that shares this machine's "
                "network (the disposable VPS, make soak-vps) reaches it. A real remote VPS does not; "
                "soak it with the gate's own 24-hour check instead (docs/operations.md)."
            )
        self.log(f"the host reaches the simulator: {gamma_url}, {clob_url}")
        return gamma_url, clob_url

    def _disk_method(self, disposable: bool) -> str:
        if self.disk_pressure == "floor" or (self.disk_pressure == "auto" and not disposable):
            return "floor_raised_by_restart"
        return "tmpfs_ballast"

    def _make_data_dir(
        self, shell: HostShell, disk: HostDisk, *, root: str, data: str, base_dir: str, unit: dict[str, str]
    ) -> None:
        if not is_soak_root(root, base_dir):
            raise HostError(f"refusing soak folder {root}")
        if shell.run(f"test -e {root}", check=False).returncode == 0:
            raise HostError(f"{root} exists already on the host")
        user, group = unit["User"], unit.get("Group") or unit["User"]
        shell.run(f"install -d -m 0755 {root}")
        if disk.method == "tmpfs_ballast":
            mount = shell.run(
                f"mount -t tmpfs -o size={disk.size_mb}m,mode=0755 orderbooks-soak {root}", check=False
            )
            if mount.returncode == 0:
                disk.mounted = True
                disk.note = (
                    f"soak data folder on a {disk.size_mb} MiB tmpfs mounted on the host at {root}; a "
                    f"ballast file took free space below the {disk.floor_mb} MiB floor"
                )
            else:
                disk.method = "floor_raised_by_restart"
                disk.note = f"mounting a tmpfs on the host failed ({mount.stderr.strip()[:200]}); "
        if disk.method == "floor_raised_by_restart":
            disk.note += (
                "no space was filled: for the window a second runtime drop-in set ORDERBOOKS_DISK_FLOOR_MB="
                f"{HUGE_FLOOR_MB} and the service was restarted, then again without it"
            )
        shell.run(f"install -d -o {user} -g {group} -m 0750 {data}")

    def _first_rows(self, shell: HostShell, data: str) -> None:
        code = f"{HOST_PYTHON} -c {shlex.quote(FIRST_ROWS)} {data} {FIRST_ROWS_WAIT_S}"
        result = shell.run(code, check=False, timeout=FIRST_ROWS_WAIT_S + 30)
        if result.returncode != 0:
            journal = shell.run(f"journalctl -u {SERVICE} -n 5 --no-pager -o cat", check=False).stdout
            raise HostError(
                f"no row in {data} within {FIRST_ROWS_WAIT_S} s of the restart; journal:\n{journal}"
            )
        self.log(f"first rows on the host: {result.stdout.split()[-1]}")

    def _restore(self, shell: HostShell) -> None:
        """Drop-ins and env files gone, daemon-reload, restart, active again. Never raises."""
        with signals_deferred():
            try:
                files = f"{DROPIN_MAIN} {DROPIN_FLOOR} {ENV_MAIN} {ENV_FLOOR}"
                shell.run(
                    f"rm -f {files}; rmdir {RUNTIME_DIR} {DROPIN_DIR} 2>/dev/null; systemctl daemon-reload"
                )
                shell.run(f"systemctl restart {SERVICE}", timeout=120)
                deadline = time.monotonic() + 30
                while True:
                    state = parse_show(
                        shell.run(f"systemctl show -p ActiveState -p MainPID -p DropInPaths {SERVICE}").stdout
                    )
                    if state.get("ActiveState") == "active" or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                self.restored = state.get("ActiveState") == "active" and DROPIN_DIR not in state.get(
                    "DropInPaths", ""
                )
                self.restore_detail = (
                    f"ActiveState={state.get('ActiveState')} MainPID={state.get('MainPID')} "
                    f"DropInPaths={state.get('DropInPaths') or '(none)'}"
                )
            except Exception as exc:
                self.restored = False
                self.restore_detail = f"restore failed: {exc}"
            if self.restored:
                self.log(f"{SERVICE} back on its normal config: {self.restore_detail}")
            else:
                self.problems.append(f"the host's service was not restored: {self.restore_detail}")
                self.log(f"ERROR: {SERVICE} NOT restored: {self.restore_detail}")

    def _host_verify(self, shell: HostShell, data: str) -> dict[str, Any]:
        command = f"{HOST_ORDERBOOKS} verify {data} --json"
        result = shell.run(command, check=False, timeout=600)
        rc, report = parse_verify_output(result.returncode, result.stdout)
        if report is None:
            self.problems.append(f"orderbooks verify on the host printed no JSON (status {rc})")
        elif not report.get("ok"):
            problems = "; ".join(list(report.get("problems") or [])[:3])
            self.problems.append(f"orderbooks verify on the host failed (status {rc}): {problems}")
        return {"command": command, **verify_summary(rc, report)}

    def _remove_data_dir(self, shell: HostShell, disk: HostDisk, root: str, base_dir: str) -> None:
        with signals_deferred():
            try:
                if self.keep_host_data:
                    if disk.mounted:
                        shell.run(f"rm -f {disk.ballast}")
                    self.log(f"soak data kept on the host at {root} (--keep-host-data)")
                    return
                if disk.mounted:
                    shell.run(f"umount {root}")
                    disk.mounted = False
                if is_soak_root(root, base_dir):
                    shell.run(f"rm -rf --one-file-system {root}")
            except Exception as exc:
                self.problems.append(f"removing {root} from the host failed: {exc}")
                print(f"soak: removing {root} from the host failed: {exc}", file=sys.stderr)
