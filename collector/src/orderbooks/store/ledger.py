"""The append-only upload/prune ledger: DATA_DIR/uploads/ledger.jsonl.

One JSON object per line, appended and fsynced one at a time; lines are never
rewritten. Each line records what happened to one file::

    {"ts": "2026-01-02T03:04:05.678Z", "action": "upload", "kind": "data",
     "path": "raw/2026-01-02/02/orderbooks-....jsonl.gz", "bytes": 123,
     "md5": "...", "sha256": "...", "remote": "gdrive:orderbooks",
     "outcome": "verified", "detail": "remote md5+sha256 equal", "run_id": "..."}

``action`` is ``upload`` (outcomes ``verified``, ``mismatch``, ``failed``,
``skipped``) or ``prune`` (outcomes ``pruned``, ``remote_lost``,
``remote_mismatch``). A file counts as uploaded only through an
``upload``/``verified`` line of the *same remote* whose hashes equal the ones
expected now, and only while no later ``remote_lost``/``remote_mismatch`` line
of that remote says prune found the copy gone or different. Lines without a
``remote`` (older ledgers) are read but verify nothing on any named remote.
A torn last line (power cut mid-append) is ignored when reading, and the next
append starts on a fresh line.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.store import paths
from orderbooks.store.atomic import fsync_dir

LEDGER_MODE = 0o640
LOCK_NAME = ".lock"

ACTION_UPLOAD = "upload"
ACTION_PRUNE = "prune"
VERIFIED = "verified"
MISMATCH = "mismatch"
FAILED = "failed"
SKIPPED = "skipped"
PRUNED = "pruned"
REMOTE_LOST = "remote_lost"
REMOTE_MISMATCH = "remote_mismatch"
#: Prune outcomes that withdraw an earlier ``verified`` on that remote.
WITHDRAWN = (REMOTE_LOST, REMOTE_MISMATCH)


def same_remote(a: object, b: object) -> bool:
    """``gdrive:orderbooks`` and ``gdrive:orderbooks/`` name the same place; None matches nothing."""
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    return a.rstrip("/") == b.rstrip("/") or a == b


def uploads_dir(data_dir: Path) -> Path:
    return Path(data_dir) / paths.UPLOADS_DIR


def ledger_path(data_dir: Path) -> Path:
    return uploads_dir(data_dir) / paths.LEDGER_NAME


class LedgerBusy(Exception):
    """Another upload or prune holds the ledger lock."""


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold DATA_DIR/uploads/.lock so only one upload or prune runs at a time."""
    folder = uploads_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, LEDGER_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LedgerBusy(f"another upload or prune is running (lock {folder / LOCK_NAME})") from exc
        yield
    finally:
        os.close(fd)


@dataclass
class LedgerReadResult:
    entries: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)


class Ledger:
    """Read and append DATA_DIR/uploads/ledger.jsonl."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = ledger_path(self.data_dir)

    def read(self) -> LedgerReadResult:
        result = LedgerReadResult()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return result
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                result.bad_lines.append(number)
                continue
            if isinstance(entry, dict):
                result.entries.append(entry)
            else:
                result.bad_lines.append(number)
        return result

    def append(self, entry: dict[str, Any]) -> None:
        """Append one line and fsync it (and the folder when the ledger is new)."""
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        line = orjson.dumps(entry, default=str) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LEDGER_MODE)
        try:
            size = os.fstat(fd).st_size
            if size > 0 and _last_byte(self.path, size) != b"\n":
                line = b"\n" + line  # a torn line from a crash stays on its own line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(folder)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1)


def names_no_remote(value: object) -> bool:
    """A line of an older ledger, written before lines named their remote."""
    return value is None or value == ""


class VerifiedIndex:
    """Which (path, md5, sha256) the ledger has seen verified on *remote*, and not withdrawn since.

    Upload and prune always name their remote. ``remote=None`` is the unnamed
    remote of older ledgers: only lines without a ``remote`` count for it (status
    asks for it when the newest upload line names none); such lines never count
    for a named remote.
    """

    def __init__(self, entries: list[dict[str, Any]], remote: str | None) -> None:
        self.remote = remote
        self._events: dict[str, list[dict[str, Any]]] = {}
        self.pruned: set[str] = set()
        for entry in entries:
            self.add(entry)

    def add(self, entry: dict[str, Any]) -> None:
        path = entry.get("path")
        if not isinstance(path, str):
            return
        action, outcome = entry.get("action"), entry.get("outcome")
        if action == ACTION_PRUNE and outcome == PRUNED:
            self.pruned.add(path)
            return
        if not self.of_this_remote(entry.get("remote")):
            return
        verified = action == ACTION_UPLOAD and outcome == VERIFIED
        if verified or (action == ACTION_PRUNE and outcome in WITHDRAWN):
            self._events.setdefault(path, []).append(entry)

    def of_this_remote(self, value: object) -> bool:
        if self.remote is None:
            return names_no_remote(value)
        return same_remote(value, self.remote)

    @classmethod
    def load(cls, data_dir: Path, remote: str | None) -> VerifiedIndex:
        return cls(Ledger(data_dir).read().entries, remote)

    def verified_entry(self, path: str, md5: str, sha256: str | None) -> dict[str, Any] | None:
        """The ledger line proving *path* with these hashes is on this remote, or None."""
        for entry in reversed(self._events.get(path, [])):
            if entry.get("outcome") in WITHDRAWN:
                return None
            if entry.get("md5") != md5:
                continue
            if sha256 is not None and entry.get("sha256") != sha256:
                continue
            return entry
        return None

    def is_verified(self, path: str, md5: str, sha256: str | None) -> bool:
        return self.verified_entry(path, md5, sha256) is not None
