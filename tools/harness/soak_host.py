"""The host side of the inventory soak: one ssh channel, the collector service, its data folder.

A host provisioned by ``ansible/site.yml`` runs ``orderbooks-collector.service``.
For the soak it is pointed at the soak's simulator and at a fresh data folder
by a RUNTIME drop-in (``/run/systemd/system/orderbooks-collector.service.d/``)
that adds an ``EnvironmentFile=`` under ``/run/orderbooks-soak/``; a later
``EnvironmentFile=`` wins over the unit's own ``/etc/orderbooks/collector.env``.
Everything written under ``/run`` disappears at a reboot at the latest;
``restore`` removes it at once and restarts the service on its normal config.

The connection details come from ``ansible-inventory --list`` (the same
inventory ``make cutover`` used); commands go over one persistent ssh
connection (ControlMaster), so each costs a few milliseconds. A non-root
``ansible_user`` gets ``sudo -n``.

The pure parts (inventory parsing, ssh command line, drop-in and env text,
``systemctl show`` parsing, clock offset, path checks) are unit-tested in
``tests/unit/test_soak_host.py``.
"""

from __future__ import annotations

import getpass
import json
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from gate.verdict import disposable_evidence

SERVICE = "orderbooks-collector.service"
HOST_ORDERBOOKS = "/opt/orderbooks/current/venv/bin/orderbooks"
HOST_PYTHON = "/opt/orderbooks/current/venv/bin/python"
RUNTIME_DIR = "/run/orderbooks-soak"
DROPIN_DIR = f"/run/systemd/system/{SERVICE}.d"
DROPIN_MAIN = f"{DROPIN_DIR}/50-orderbooks-soak.conf"
DROPIN_FLOOR = f"{DROPIN_DIR}/60-orderbooks-soak-floor.conf"
ENV_MAIN = f"{RUNTIME_DIR}/collector.env"
ENV_FLOOR = f"{RUNTIME_DIR}/floor.env"
GROUP = "orderbooks"
#: The simulator's host names; the disposable VPS maps them to 127.0.0.1 (vps.py --hosts-entry).
SIM_NAMES = ("gamma.polysim.test", "clob.polysim.test")
SOAK_DIR_RE = re.compile(r"^soak-\d{8}T\d{6}Z$")
COMMAND_TIMEOUT_S = 60.0
RESTART_WAIT_S = 30.0
WATCH_EVERY_S = 5.0


class HostError(Exception):
    """The host cannot be soaked (unreachable, not provisioned, ...): the message says why."""


# ---------------------------------------------------------------- pure parts


def pick_host(inventory: Mapping[str, Any], wanted: str | None = None) -> tuple[str, dict[str, Any]]:
    """The one host to soak from ``ansible-inventory --list`` output, and its variables."""
    hostvars = (inventory.get("_meta") or {}).get("hostvars") or {}
    members = list((inventory.get(GROUP) or {}).get("hosts") or [])
    if wanted:
        if wanted not in hostvars and wanted not in members:
            raise HostError(f"host {wanted!r} is not in the inventory (hosts: {', '.join(sorted(hostvars))})")
        return wanted, dict(hostvars.get(wanted) or {})
    if not members:
        raise HostError(f"the inventory has no host in group {GROUP!r}")
    if len(members) > 1:
        raise HostError(
            f"group {GROUP!r} has {len(members)} hosts ({', '.join(members)}); pick one with --host"
        )
    return members[0], dict(hostvars.get(members[0]) or {})


def remote_user(hostvars: Mapping[str, Any]) -> str:
    return str(hostvars.get("ansible_user") or hostvars.get("ansible_ssh_user") or getpass.getuser())


def ssh_argv(name: str, hostvars: Mapping[str, Any], control_path: str) -> list[str]:
    """``ssh`` options that reach the host as Ansible does, over the control socket *control_path*."""
    connection = hostvars.get("ansible_connection", "ssh")
    if connection not in ("ssh", "smart", "paramiko"):
        raise HostError(f"ansible_connection={connection} is not supported; the soak speaks ssh")
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15"]
    argv += ["-o", f"ControlPath={control_path}"]
    if hostvars.get("ansible_port") or hostvars.get("ansible_ssh_port"):
        argv += ["-p", str(hostvars.get("ansible_port") or hostvars.get("ansible_ssh_port"))]
    key = hostvars.get("ansible_ssh_private_key_file") or hostvars.get("ansible_private_key_file")
    if key:
        argv += ["-i", str(key)]
    for extra in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if hostvars.get(extra):
            argv += shlex.split(str(hostvars[extra]))
    argv += ["-l", remote_user(hostvars), str(hostvars.get("ansible_host") or name)]
    return argv


def as_root(command: str, user: str) -> str:
    """The remote command line: as is for root, through ``sudo -n sh -c`` otherwise."""
    return command if user == "root" else f"sudo -n sh -c {shlex.quote(command)}"


def is_disposable(hostvars: Mapping[str, Any]) -> bool:
    """The inventory marks the host as the disposable VPS (the gate's own rule)."""
    return bool(disposable_evidence(hostvars.get("orderbooks_disposable_vps"), None))


def env_text(settings: Mapping[str, Any], stamp: str) -> str:
    """An EnvironmentFile: ``ORDERBOOKS_<NAME>=value`` lines (values without newlines or quotes)."""
    lines = [f"# orderbooks soak {stamp}: removed when the soak ends (runtime file, gone at reboot)."]
    for name, value in settings.items():
        text = str(value)
        if not re.fullmatch(r"[A-Za-z0-9_./:@+,=-]*", text):
            raise ValueError(f"unsafe value for {name}: {text!r}")
        lines.append(f"ORDERBOOKS_{name.upper()}={text}")
    return "\n".join(lines) + "\n"


def dropin_text(env_file: str, stamp: str) -> str:
    """A runtime drop-in adding one EnvironmentFile (later files override earlier ones and Environment=)."""
    return (
        f"# orderbooks soak {stamp}: removed when the soak ends (runtime drop-in, gone at reboot).\n"
        f"[Service]\nEnvironmentFile={env_file}\n"
    )


def parse_show(text: str) -> dict[str, str]:
    """``systemctl show -p A -p B`` output as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def best_offset(samples: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    """(host - controller offset ms, round trip ms) from (sent_ms, host_ms, received_ms) samples.

    The sample with the shortest round trip wins; the host's reading is taken
    to be at its middle.
    """
    if not samples:
        raise ValueError("no clock samples")
    sent, host, received = min(samples, key=lambda s: s[2] - s[0])
    return host - (sent + received) // 2, received - sent


def soak_paths(base_dir: str, stamp: str) -> tuple[str, str]:
    """(soak root, its data folder) under the service's data folder *base_dir*."""
    root = PurePosixPath(base_dir) / f"soak-{stamp}"
    return str(root), str(root / "data")


def is_soak_root(path: str, base_dir: str) -> bool:
    """Only a ``soak-<UTC stamp>`` folder directly under *base_dir* may ever be removed."""
    candidate = PurePosixPath(path)
    return (
        candidate.is_absolute()
        and ".." not in candidate.parts
        and str(candidate.parent) == str(PurePosixPath(base_dir))
        and bool(SOAK_DIR_RE.match(candidate.name))
    )


def writable_by_unit(path: str, read_write_paths: str) -> bool:
    """Whether *path* lies under one of the unit's ``ReadWritePaths=`` (space-separated, ``-`` prefixes)."""
    target = PurePosixPath(path)
    for entry in read_write_paths.split():
        root = PurePosixPath(entry.lstrip("-+"))
        if target == root or root in target.parents:
            return True
    return False


def marker_fields(output: str, marker: str) -> list[str]:
    """The words after *marker* on the first line that has it."""
    for line in output.splitlines():
        if line.startswith(marker):
            return line[len(marker) :].split()
    raise HostError(f"no {marker.strip()!r} line in the host's answer: {output.strip()[:300]}")


def sim_urls(resolves_to_loopback: bool, port: int) -> tuple[str, str]:
    """The simulator as the host should call it: by its names when they resolve to loopback there."""
    gamma, clob = SIM_NAMES if resolves_to_loopback else ("127.0.0.1", "127.0.0.1")
    return f"http://{gamma}:{port}/gamma", f"http://{clob}:{port}/clob"


# ---------------------------------------------------------------- scripts run on the host

KILL_AND_WAIT = """
u={unit}; old=$(systemctl show -p MainPID --value $u); n0=$(systemctl show -p NRestarts --value $u)
t0=$(date +%s%3N)
systemctl kill -s SIGKILL $u
while :; do
  p=$(systemctl show -p MainPID --value $u); s=$(systemctl show -p ActiveState --value $u)
  if [ "$p" != "$old" ] && [ "$p" != 0 ] && [ "$s" = active ]; then break; fi
  [ $(( $(date +%s%3N) - t0 )) -gt {limit_ms} ] && {{ echo "SOAK_TIMEOUT $t0 $old $p $s"; exit 4; }}
  sleep 0.02
done
t1=$(date +%s%3N)
echo "SOAK_BACK $t0 $t1 $old $p $n0 $(systemctl show -p NRestarts --value $u)"
"""

RESTART = """
u={unit}; old=$(systemctl show -p MainPID --value $u)
t0=$(date +%s%3N); systemctl restart $u; rc=$?; t1=$(date +%s%3N)
echo "SOAK_RESTART $t0 $t1 $rc $old $(systemctl show -p MainPID --value $u) $(systemctl is-active $u)"
"""

#: Probe the simulator from the host with the release's own Python (the simulator refuses urllib's agent).
PROBE = """
import sys, urllib.request
for url in sys.argv[1:]:
    req = urllib.request.Request(url, headers={"User-Agent": "orderbooks-soak-probe"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        print("SOAK_PROBE", resp.status, url)
"""

FIRST_ROWS = """
import os, sys, time
deadline = time.time() + float(sys.argv[2])
while time.time() < deadline:
    for root, _dirs, files in os.walk(os.path.join(sys.argv[1], "raw")):
        for name in files:
            if name.endswith(".partial") and os.path.getsize(os.path.join(root, name)) > 0:
                print("SOAK_ROWS", os.path.join(root, name)); sys.exit(0)
    time.sleep(0.2)
print("SOAK_NOROWS"); sys.exit(4)
"""

FACTS = """
. /etc/os-release
echo "os=$PRETTY_NAME"
echo "kernel=$(uname -r)"
echo "hostname=$(uname -n)"
echo "virtualization=$(systemd-detect-virt 2>/dev/null || true)"
echo "systemd=$(systemctl --version | head -n 1)"
echo "release=$(readlink -f /opt/orderbooks/current | xargs -r basename)"
echo "orderbooks=$(/opt/orderbooks/current/venv/bin/orderbooks --version 2>&1)"
echo "python=$(/opt/orderbooks/current/venv/bin/python -V 2>&1)"
echo "sim_names=$(getent ahostsv4 {name} | awk 'NR==1 {{print $1}}')"
"""


# ---------------------------------------------------------------- the connection


@dataclass
class HostShell:
    """One persistent ssh connection to the host; ``run`` sends a shell command line as root."""

    name: str
    hostvars: dict[str, Any]
    commands: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    _master: subprocess.Popen[bytes] | None = None

    @property
    def user(self) -> str:
        return remote_user(self.hostvars)

    def argv(self) -> list[str]:
        assert self._tmp is not None
        return ssh_argv(self.name, self.hostvars, str(Path(self._tmp.name) / "cm"))

    def open(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="obsoak-")
        base = self.argv()
        # Its own session: a Ctrl-C on the terminal must not cut the channel the clean-up needs.
        self._master = subprocess.Popen(
            [base[0], "-M", "-N", *base[1:]], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                err = (self._master.stderr.read() if self._master.stderr else b"").decode(errors="replace")
                raise HostError(f"ssh to {self.name} failed: {err.strip()[-300:]}")
            check = subprocess.run([base[0], "-O", "check", *base[1:]], capture_output=True, check=False)
            if check.returncode == 0:
                return
            time.sleep(0.1)
        raise HostError(f"ssh to {self.name} did not connect within 20 s")

    def close(self) -> None:
        if self._master is not None:
            base = self.argv()
            subprocess.run([base[0], "-O", "exit", *base[1:]], capture_output=True, check=False)
            try:
                self._master.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._master.kill()
                self._master.wait()
            self._master = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def run(
        self, command: str, *, check: bool = True, timeout: float = COMMAND_TIMEOUT_S, record: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if record:
            self.commands.append(command.strip())
        try:
            result = subprocess.run(
                [*self.argv(), as_root(command, self.user)], capture_output=True, text=True,
                timeout=timeout, check=False, start_new_session=True,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise HostError(f"on {self.name}: `{command.strip()[:200]}` took over {timeout:g} s") from exc
        if check and result.returncode != 0:
            raise HostError(
                f"on {self.name}: `{command.strip()[:200]}` exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-400:]}"
            )
        return result

    def write_file(self, path: str, text: str, mode: str = "0644") -> None:
        tmp = f"{path}.tmp"
        self.run(f"umask 022; printf %s {shlex.quote(text)} > {tmp} && chmod {mode} {tmp} && mv {tmp} {path}")

    def fetch_tree(self, remote_dir: str, local_dir: Path) -> None:
        """Copy *remote_dir*'s content into *local_dir* (tar over the same channel)."""
        local_dir.mkdir(parents=True, exist_ok=True)
        command = f"tar -C {shlex.quote(remote_dir)} -cf - ."
        self.commands.append(command)
        with subprocess.Popen(
            [*self.argv(), as_root(command, self.user)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        ) as sender:  # fmt: skip
            untar = subprocess.run(
                ["tar", "-C", str(local_dir), "-xf", "-", "--no-same-owner"], stdin=sender.stdout,
                capture_output=True, check=False,
            )  # fmt: skip
            sender.wait(timeout=COMMAND_TIMEOUT_S)
            err = sender.stderr.read().decode(errors="replace") if sender.stderr else ""
        if sender.returncode != 0 or untar.returncode != 0:
            raise HostError(f"copying {remote_dir} from {self.name} failed: {err.strip()} {untar.stderr!r}")

    def clock_offset(self, samples: int = 7) -> tuple[int, int]:
        """(host clock - this machine's clock in ms, best round trip in ms)."""
        readings = []
        for _ in range(samples):
            sent = time.time_ns() // 1_000_000
            out = self.run("date +%s%3N", record=False).stdout.strip()
            received = time.time_ns() // 1_000_000
            readings.append((sent, int(out), received))
        return best_offset(readings)


def load_inventory(inventory: Path, ansible_inventory: str) -> dict[str, Any]:
    result = subprocess.run(
        [ansible_inventory, "-i", str(inventory), "--list"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise HostError(f"ansible-inventory -i {inventory} --list failed: {result.stderr.strip()[-300:]}")
    return json.loads(result.stdout)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done (the host's clean-up must not be cut short)."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- the collector service


@dataclass
class HostService:
    """``orderbooks-collector.service`` on the host during the soak: soak_schedule.Target."""

    shell: HostShell
    offset_ms: int
    disk: HostDisk
    problems: list[str]
    expected_pid: str = ""
    restarts_by_soak: int = 0
    unexpected: list[str] = field(default_factory=list)
    _next_watch: float = 0.0

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def show(self, *props: str) -> dict[str, str]:
        args = " ".join(f"-p {p}" for p in props)
        return parse_show(self.shell.run(f"systemctl show {args} {SERVICE}", record=False).stdout)

    def watch(self) -> None:
        """Every WATCH_EVERY_S: a MainPID the soak did not cause is an unexpected exit."""
        if time.monotonic() < self._next_watch:
            return
        self._next_watch = time.monotonic() + WATCH_EVERY_S
        try:
            state = self.show("MainPID", "ActiveState", "NRestarts")
        except HostError as exc:
            self.problems.append(f"watching the service failed: {exc}")
            return
        pid = state.get("MainPID", "")
        if pid != self.expected_pid:
            note = (
                f"{SERVICE} changed MainPID {self.expected_pid} -> {pid} without the soak causing it "
                f"(ActiveState {state.get('ActiveState')}, NRestarts {state.get('NRestarts')}, "
                f"host time {self.now_ms()})"
            )
            self.unexpected.append(note)
            self.problems.append(note)
            self.expected_pid = pid

    def restart_now(self) -> dict[str, Any]:
        out = self.shell.run(RESTART.format(unit=SERVICE), timeout=120).stdout
        t0, t1, rc, old, new, active = marker_fields(out, "SOAK_RESTART ")[:6]
        if rc != "0" or active != "active":
            raise HostError(f"systemctl restart {SERVICE} gave {rc}, state {active}")
        self.expected_pid = new
        self.restarts_by_soak += 1
        return {"start_ms": int(t0), "end_ms": int(t1), "old_pid": int(old), "new_pid": int(new)}

    def sigkill(self) -> dict[str, Any]:
        out = self.shell.run(
            KILL_AND_WAIT.format(unit=SERVICE, limit_ms=int(RESTART_WAIT_S * 1000)), check=False, timeout=120
        ).stdout
        if "SOAK_TIMEOUT" in out:
            t0, old, *rest = marker_fields(out, "SOAK_TIMEOUT ")
            self.problems.append(f"after SIGKILL {SERVICE} was not active again within {RESTART_WAIT_S:g} s")
            self.expected_pid = rest[0] if rest else ""
            return {"start_ms": int(t0), "end_ms": self.now_ms(), "old_pid": int(old), "came_back": False}
        t0, t1, old, new, n0, n1 = marker_fields(out, "SOAK_BACK ")[:6]
        self.expected_pid = new
        self.restarts_by_soak += 1
        return {
            "start_ms": int(t0), "end_ms": int(t1), "old_pid": int(old), "new_pid": int(new),
            "active_again_after_ms": int(t1) - int(t0), "systemd_restarts": int(n1) - int(n0),
        }  # fmt: skip

    def restart(self) -> dict[str, Any]:
        return self.restart_now()

    def disk_begin(self) -> None:
        self.disk.begin(self)

    def disk_end(self) -> None:
        self.disk.end(self)


@dataclass
class HostDisk:
    """Disk pressure on the host: a ballast file on the soak's own tmpfs, or a raised floor."""

    shell: HostShell
    root: str  # the soak root (the tmpfs mount point when method is tmpfs_ballast)
    method: str  # tmpfs_ballast | floor_raised_by_restart
    floor_mb: int
    huge_floor_mb: int
    size_mb: int
    stamp: str
    note: str = ""
    mounted: bool = False
    ballast_bytes: int = 0
    free_during: int | None = None

    @property
    def ballast(self) -> str:
        return f"{self.root}/ballast.bin"

    def free_bytes(self) -> int:
        out = self.shell.run(f"df -B1 --output=avail {self.root} | tail -n 1", record=False).stdout
        return int(out.strip())

    def begin(self, service: HostService) -> None:
        if self.method == "tmpfs_ballast":
            target = self.free_bytes() - self.floor_mb * (1 << 20) // 2
            filled = self.shell.run(f"fallocate -l {max(target, 1)} {self.ballast}", check=False)
            if filled.returncode != 0:
                service.problems.append(f"disk pressure: ballast file failed: {filled.stderr.strip()[:200]}")
            self.ballast_bytes = max(target, 1)
            self.free_during = self.free_bytes()
            if self.free_during >= self.floor_mb << 20:
                service.problems.append(
                    f"disk pressure: free space {self.free_during} B stayed above the floor"
                )
        else:
            self.shell.write_file(ENV_FLOOR, env_text({"disk_floor_mb": self.huge_floor_mb}, self.stamp))
            self.shell.write_file(DROPIN_FLOOR, dropin_text(ENV_FLOOR, self.stamp))
            self.shell.run("systemctl daemon-reload")
            service.restart_now()

    def end(self, service: HostService) -> None:
        if self.method == "tmpfs_ballast":
            self.shell.run(f"rm -f {self.ballast}")
        else:
            self.shell.run(f"rm -f {DROPIN_FLOOR} {ENV_FLOOR} && systemctl daemon-reload")
            service.restart_now()
