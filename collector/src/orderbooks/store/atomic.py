"""Durable file operations: write-then-rename, fsync of files and folders, durable folders.

The steps follow the classic atomic-write recipe: a temporary file in the
target's own folder, write, flush + fsync, ``os.replace``, fsync the folder.
Any exception removes the temporary file and leaves the target untouched.
``make_dirs_durable`` creates folders so that they survive a crash,
``write_all`` writes every byte or raises, ``seal_or_keep`` runs a seal that
is retried when it fails, and ``DATA_MODE``/``DIR_MODE`` are
the modes of data files and folders. Every writer of the data folder (book
files, market documents, merges, recovery) uses these.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson

from orderbooks.logs import Logger

_T = TypeVar("_T")
_R = TypeVar("_R")

DATA_MODE = 0o640
#: Group-writable as far as the process umask lets it: on a host the collector's
#: unit has UMask=0007, so prune, run by the upload user of the same group, can
#: delete verified files; elsewhere (umask 022 or 027) folders stay 0750.
DIR_MODE = 0o770


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename or create inside it is durable."""
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, mode: int = 0o640) -> None:
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(target.parent)


def atomic_write_json(path: str | os.PathLike[str], obj: object, mode: int = 0o640) -> None:
    """Write *obj* as indented JSON (sorted keys are NOT forced; order is kept)."""
    atomic_write_bytes(path, orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n", mode)


def cut_durably(path: str | os.PathLike[str], size: int) -> None:
    """Cut the file at *path* to *size* bytes (if longer) and fsync it: a crash leaves it cut or whole."""
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_CLOEXEC)
    try:
        if os.fstat(fd).st_size > size:
            os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Rename and fsync the destination folder (and the source's, if different)."""
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)
    if Path(src).parent != Path(dst).parent:
        fsync_dir(Path(src).parent)


def make_dirs_durable(path: Path, mode: int = DIR_MODE) -> None:
    """mkdir -p, fsyncing the parent of every folder created so the entries survive a crash."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue
        fsync_dir(folder.parent)


def write_all(fd: int, data: bytes, write: Callable[[int, bytes], int] = os.write) -> None:
    """Write all of *data* to *fd* (retrying short writes); OSError when a write makes no progress."""
    view = memoryview(data)
    while view:
        written = write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "write returned no progress")
        view = view[written:]


def close_synced(fd: int | None) -> None:
    """fsync and close *fd*, nothing when it is None (a file not open)."""
    if fd is not None:
        os.fsync(fd)
        os.close(fd)


def seal_or_keep(
    target: _T, seal: Callable[[_T], _R], unsealed: list[_T], log: Logger, *, file: Path, action: str
) -> _R | None:
    """``seal(target)``; when it raises OSError: one ``seal_failed`` log line and *target* kept in
    *unsealed* for a retry (None returned); when it succeeds, *target* leaves *unsealed*."""
    try:
        result = seal(target)
    except OSError as exc:
        log.error("seal_failed", file=str(file), error=str(exc), action=action)
        if target not in unsealed:
            unsealed.append(target)
        return None
    if target in unsealed:
        unsealed.remove(target)
    return result
