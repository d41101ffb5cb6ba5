"""A disposable Debian 12 VPS on this machine: `up`, `down`, `status`.

The machine is a real Debian 12 system booted with systemd as PID 1 by
``systemd-nspawn`` on an overlay of a cached base root filesystem. Its sshd
listens on a loopback port of this machine, so Ansible and pytest-testinfra
reach it over SSH exactly as they reach a VPS. It shares this machine's network
namespace: a server bound to 127.0.0.1 here is reachable from inside it.

    python3 tools/harness/vps.py up --name default --port 2222 \
        --hosts-entry "127.0.0.1 gamma.polysim.test clob.polysim.test"
    python3 tools/harness/vps.py status --name default
    python3 tools/harness/vps.py down --name default

Files (relative to the repository root):

    .cache/vps/bookworm-base.tar.zst   base root filesystem, built once by mmdebstrap
    .cache/vps/base/                   the same, unpacked (overlay lower layer, never written)
    .vps/<name>/                       one machine: overlay layers, key, inventory, logs
    .vps/<name>/inventory.ini          Ansible inventory (group ``orderbooks``)
    .vps/<name>/ssh_config             ``ssh -F .vps/<name>/ssh_config vps-<name>``

Needs root, mmdebstrap, systemd-container, zstd and openssh-client
(tools/harness/install-system-deps.sh). Exit status 0 on success, 1 on failure,
2 on bad usage.
"""

from __future__ import annotations

import argparse
import fcntl
import glob
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".cache" / "vps"
BASE_TARBALL = CACHE_DIR / "bookworm-base.tar.zst"
BASE_TREE = CACHE_DIR / "base"
MACHINES_DIR = REPO / ".vps"

#: Packages of the base image: what a freshly ordered minimal Debian 12 VPS has.
BASE_PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-venv",
    "sudo",
    "ca-certificates",
    "iproute2",
    "procps",
]
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
SSH_WAIT_SECONDS = 90
STOP_WAIT_SECONDS = 30


class VpsError(Exception):
    """A step failed; the message says which and why."""


def log(message: str) -> None:
    print(f"vps: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- base image


def host_mirrors() -> tuple[str, str]:
    """The Debian mirror and security mirror this machine's apt already uses."""
    mirror, security = DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR
    for path in ["/etc/apt/sources.list", *glob.glob("/etc/apt/sources.list.d/*.sources")]:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            uris = words[1:] if words[:1] == ["URIs:"] else words[1:2] if words[:1] == ["deb"] else []
            for uri in uris:
                if uri.startswith("http"):
                    if "security" in uri:
                        security = uri.rstrip("/")
                    else:
                        mirror = uri.rstrip("/")
    return os.environ.get("VPS_MIRROR", mirror), os.environ.get("VPS_SECURITY_MIRROR", security)


def ensure_base() -> None:
    """Build the base tarball and unpack it once; concurrent callers wait on a lock."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not BASE_TARBALL.exists():
            build_base_tarball()
        if not (BASE_TREE / ".complete").exists():
            unpack_base()


def build_base_tarball() -> None:
    mirror, security = host_mirrors()
    tmp = BASE_TARBALL.with_name(BASE_TARBALL.name + ".tmp.tar.zst")
    hooks = [
        'echo vps > "$1/etc/hostname"',
        'printf "127.0.0.1 localhost\\n127.0.1.1 vps\\n::1 localhost ip6-localhost ip6-loopback\\n"'
        ' > "$1/etc/hosts"',
        'rm -f "$1/etc/resolv.conf"',
        ': > "$1/etc/machine-id"',
    ]
    cmd = [
        "mmdebstrap",
        "--variant=apt",
        "--mode=root",
        "--include=" + ",".join(BASE_PACKAGES),
        *[f"--customize-hook={hook}" for hook in hooks],
        "bookworm",
        str(tmp),
        f"deb {mirror} bookworm main",
        f"deb {mirror} bookworm-updates main",
        f"deb {security} bookworm-security main",
    ]
    log(f"building the base root filesystem with mmdebstrap from {mirror} (once, about 20 s)")
    started = time.monotonic()
    run(cmd, quiet=True)
    tmp.replace(BASE_TARBALL)
    log(f"base root filesystem built in {time.monotonic() - started:.0f} s: {BASE_TARBALL}")


def unpack_base() -> None:
    if BASE_TREE.exists():
        shutil.rmtree(BASE_TREE)
    BASE_TREE.mkdir(parents=True)
    run(["tar", "--zstd", "-xpf", str(BASE_TARBALL), "-C", str(BASE_TREE), "--numeric-owner"])
    (BASE_TREE / ".complete").write_text("")
    log(f"base tree unpacked: {BASE_TREE}")


# ---------------------------------------------------------------- one machine


class Machine:
    """One disposable VPS and its files under .vps/<name>/."""

    def __init__(self, name: str, port: int) -> None:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise VpsError(f"bad machine name {name!r}: use letters, digits, - and _")
        self.name = name
        self.port = port
        self.dir = MACHINES_DIR / name
        self.upper = self.dir / "upper"
        self.work = self.dir / "work"
        self.merged = self.dir / "merged"
        self.key = self.dir / "id_ed25519"
        self.pid_file = self.dir / "nspawn.pid"
        self.port_file = self.dir / "port"
        self.console = self.dir / "console.log"
        self.inventory = self.dir / "inventory.ini"
        self.ssh_config = self.dir / "ssh_config"
        self.hostname = f"vps-{name}"
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------ state
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def recorded_port(self) -> int:
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return self.port

    def ssh_cmd(self, *remote: str, port: int | None = None) -> list[str]:
        return [
            "ssh",
            "-p",
            str(port or self.port),
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "LogLevel=ERROR",
            "root@127.0.0.1",
            *remote,
        ]

    # ------------------------------------------------------------ up
    def up(self, hosts_entries: list[str], inventory_vars: list[str]) -> None:
        if self.pid() is not None:
            raise VpsError(
                f"machine {self.name!r} is already up (pid {self.pid()}); run `down --name {self.name}` first"
            )
        if self.dir.exists():
            log(f"removing the stale machine folder {self.dir}")
            self.down()
        if port_in_use(self.port):
            raise VpsError(f"port {self.port} on 127.0.0.1 is already in use; pick another with --port")
        ensure_base()
        started = time.monotonic()
        try:
            self.prepare(hosts_entries)
            self.boot()
            self.wait_ready()
            self.write_inventory(inventory_vars)
        except BaseException:
            log(f"bringing {self.name!r} up failed; cleaning up (console log: {self.console})")
            tail_console(self.console)
            self.down(keep_log=True)
            raise
        log(
            f"{self.name!r} is up in {time.monotonic() - started:.1f} s: ssh port {self.port}, "
            f"inventory {self.inventory}"
        )
        print(self.inventory)

    def prepare(self, hosts_entries: list[str]) -> None:
        for folder in (self.upper, self.work, self.merged):
            folder.mkdir(parents=True, exist_ok=True)
        self.port_file.write_text(f"{self.port}\n")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"vps-{self.name}", "-f", str(self.key)])
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={BASE_TREE},upperdir={self.upper},workdir={self.work}",
                str(self.merged),
            ]
        )
        root = self.merged
        (root / "etc/hostname").write_text(self.hostname + "\n")
        hosts = (root / "etc/hosts").read_text().replace(" vps\n", f" {self.hostname}\n")
        hosts += "".join(f"{entry.strip()}\n" for entry in hosts_entries)
        (root / "etc/hosts").write_text(hosts)
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        ssh_dir.chmod(0o700)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self.key.with_suffix(".pub").read_text())
        keys.chmod(0o600)
        (root / "etc/ssh/sshd_config.d/10-vps.conf").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        )
        # The egress of this machine is inspected by a local CA: trust it inside the
        # VPS too (public certificates; a real VPS needs none of this).
        extra_cas = sorted(glob.glob("/usr/local/share/ca-certificates/*.crt"))
        if extra_cas:
            target = root / "usr/local/share/ca-certificates"
            target.mkdir(parents=True, exist_ok=True)
            for ca in extra_cas:
                shutil.copy2(ca, target / Path(ca).name)
            run(["chroot", str(root), "update-ca-certificates"], quiet=True)

    def boot(self) -> None:
        cmd = [
            "systemd-nspawn",
            "--boot",
            "--register=no",
            "--keep-unit",
            "--console=read-only",
            "-D",
            str(self.merged),
            "-M",
            f"ob-{self.name}",
            "--resolv-conf=copy-host",
            "--timezone=off",
        ]
        with open(self.console, "ab") as console:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")
        self._proc = proc

    def nspawn_exited(self) -> bool:
        return self.pid() is None or (self._proc is not None and self._proc.poll() is not None)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SSH_WAIT_SECONDS
        while True:
            if self.nspawn_exited():
                raise VpsError("systemd-nspawn exited during boot")
            probe = subprocess.run(self.ssh_cmd("true"), capture_output=True, check=False)
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise VpsError(f"ssh did not answer on port {self.port} within {SSH_WAIT_SECONDS} s")
            time.sleep(0.2)
        state = subprocess.run(
            self.ssh_cmd("timeout", "120", "systemctl", "is-system-running", "--wait"),
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if state != "running":
            failed = subprocess.run(
                self.ssh_cmd("systemctl", "--failed", "--no-legend", "--plain"),
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            raise VpsError(f"system state is {state!r}, not 'running'; failed units:\n{failed}")

    def write_inventory(self, inventory_vars: list[str]) -> None:
        ssh_args = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes"
        host_vars = [
            "ansible_host=127.0.0.1",
            f"ansible_port={self.port}",
            "ansible_user=root",
            f"ansible_ssh_private_key_file={self.key}",
            f"ansible_ssh_common_args='{ssh_args}'",
            "ansible_python_interpreter=/usr/bin/python3",
            # No clock control inside the disposable VPS: the clock is this machine's.
            "orderbooks_timesync_enabled=false",
            # Loopback-only until told otherwise (--var or -e): a forgotten override
            # must never make the collector reach out to the internet from here.
            "orderbooks_collector_gamma_url=http://127.0.0.1:9",
            "orderbooks_collector_clob_url=http://127.0.0.1:9",
            *inventory_vars,
        ]
        self.inventory.write_text(
            "# Written by tools/harness/vps.py: a disposable local VPS. Do not edit.\n"
            "[orderbooks]\n" + self.hostname + " " + " ".join(host_vars) + "\n"
        )
        self.ssh_config.write_text(
            f"Host {self.hostname}\n"
            "  HostName 127.0.0.1\n"
            f"  Port {self.port}\n"
            "  User root\n"
            f"  IdentityFile {self.key}\n"
            "  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
        )
        if self.name == "default":
            link = MACHINES_DIR / "inventory.ini"
            link.unlink(missing_ok=True)
            link.symlink_to(self.inventory.relative_to(MACHINES_DIR))

    # ------------------------------------------------------------ down
    def down(self, keep_log: bool = False) -> None:
        pid = self.pid()
        if pid is not None:
            stop_process(pid)
        if self.merged.exists() and os.path.ismount(self.merged):
            result = subprocess.run(["umount", str(self.merged)], capture_output=True, text=True, check=False)
            if result.returncode != 0:
                log(f"umount failed ({result.stderr.strip()}); detaching lazily")
                run(["umount", "-l", str(self.merged)])
        if self.dir.exists():
            if keep_log and self.console.exists():
                keep = MACHINES_DIR / f"{self.name}.console.log"
                shutil.copy2(self.console, keep)
                log(f"console log kept at {keep}")
            shutil.rmtree(self.dir)
        link = MACHINES_DIR / "inventory.ini"
        if self.name == "default" and link.is_symlink():
            link.unlink()

    # ------------------------------------------------------------ status
    def status(self) -> int:
        pid = self.pid()
        if pid is None:
            print(f"{self.name}: down" + (" (stale folder present)" if self.dir.exists() else ""))
            return 1
        port = self.recorded_port()
        state = subprocess.run(
            self.ssh_cmd("systemctl", "is-system-running", port=port),
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        system = state or "unreachable"
        print(f"{self.name}: up pid={pid} port={port} system={system} inventory={self.inventory}")
        return 0 if state in ("running", "degraded") else 1


def stop_process(pid: int) -> None:
    """SIGTERM makes nspawn power the machine off cleanly; SIGKILL after a grace period."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    log(f"nspawn pid {pid} still alive after {STOP_WAIT_SECONDS} s; killing it")
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while alive(pid):
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def tail_console(path: Path, lines: int = 30) -> None:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return
    for line in text:
        print(f"  console | {line}", file=sys.stderr)


def run(cmd: list[str], quiet: bool = False) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-20:]
        raise VpsError(f"`{shlex.join(cmd)}` failed with exit {result.returncode}:\n" + "\n".join(output))
    if not quiet and result.stdout.strip():
        print(result.stdout.strip(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vps.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--name", default="default", help="machine name (default: default)")
    parser.add_argument("--port", type=int, default=2222, help="ssh port on 127.0.0.1 (default: 2222)")
    parser.add_argument(
        "--hosts-entry",
        action="append",
        default=[],
        metavar="LINE",
        help='an extra /etc/hosts line, e.g. "127.0.0.1 gamma.polysim.test" (repeatable)',
    )
    parser.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra host variable written into the inventory (repeatable)",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("vps: error: needs root (mount, systemd-nspawn)", file=sys.stderr)
        return 2
    for var in args.var:
        if "=" not in var or " " in var.split("=", 1)[0]:
            print(f"vps: error: --var {var!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
    machine = Machine(args.name, args.port)
    try:
        if args.action == "up":
            pairs = (var.split("=", 1) for var in args.var)
            inventory_vars = [
                key + "=" + (shlex.quote(value) if " " in value else value) for key, value in pairs
            ]
            machine.up(args.hosts_entry, inventory_vars)
        elif args.action == "down":
            machine.down()
            log(f"{args.name!r} is down")
        else:
            return machine.status()
    except VpsError as exc:
        print(f"vps: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
