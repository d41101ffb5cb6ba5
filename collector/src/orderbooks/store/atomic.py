"""Durable file operations: write-then-rename, and fsync of files and folders.

The steps follow the classic atomic-write recipe: a temporary file in the
target's own folder, write, flush + fsync, ``os.replace``, fsync the folder.
Any exception removes the temporary file and leaves the target untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import orjson


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
