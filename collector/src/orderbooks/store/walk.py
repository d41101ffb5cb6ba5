"""Walking the data folder without leaving it, and saying what could not be read.

Two rules hold everywhere the collector reads or writes DATA_DIR:

* nothing is written through a symbolic link that leads out of the data folder
  (``escape`` says why a path is unsafe; the writer refuses such a folder);
* a walk never skips a folder or file without saying so: ``walk_files``
  returns, beside the files found, every folder it could not list
  (PermissionError and the like) and every symbolic link leading out of the
  data folder, as ``Unreadable`` (path relative to DATA_DIR, reason).

A link that stays inside the data folder is not a problem: a linked folder is
not descended into (its target is read where it lies), a linked file is listed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from orderbooks.store import paths


class UnsafePath(OSError):
    """A path the collector does not write to: it leads out of the data folder (``escape``)."""


@dataclass(frozen=True)
class Unreadable:
    """A folder or file under DATA_DIR that could not be read, and why."""

    path: str  # relative to DATA_DIR, forward slashes
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


def _rel(data_dir: Path, path: Path | str) -> str:
    try:
        return paths.relative(data_dir, Path(path))
    except ValueError:
        return str(path)


def _inside(root: str, target: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def escape(data_dir: Path, path: Path) -> str | None:
    """Why *path* (which need not exist yet) is not safely inside DATA_DIR, or None when it is.

    Every existing component of *path* is resolved; a symbolic link among them
    that leads out of the data folder is the reason, named with its target.
    """
    data_dir, path = Path(data_dir), Path(path)
    root = os.path.realpath(data_dir)
    target = os.path.realpath(path)
    if _inside(root, target):
        return None
    try:
        parts = path.relative_to(data_dir).parts
    except ValueError:
        return f"{path} is not inside the data folder {data_dir}"
    current = data_dir
    for part in parts:
        current = current / part
        if current.is_symlink() and not _inside(root, os.path.realpath(current)):
            return (
                f"{_rel(data_dir, current)} is a symbolic link leading out of the data folder "
                f"(to {os.path.realpath(current)})"
            )
    return f"{_rel(data_dir, path)} resolves out of the data folder (to {target})"


def walk_files(data_dir: Path, suffix: str, top: str = paths.RAW_DIR) -> tuple[list[Path], list[Unreadable]]:
    """(files under DATA_DIR/<top> ending in *suffix*, sorted by path; what could not be read).

    The files are those ``paths.iter_files`` lists; a symbolic link leading out
    of the data folder (a folder, or a file ending in *suffix*) is not among
    them but among the unreadable, and so is every folder that cannot be listed.
    """
    data_dir = Path(data_dir)
    root = data_dir / top
    unreadable: list[Unreadable] = []
    if root.is_symlink():
        reason = escape(data_dir, root)
        if reason is not None:
            return [], [Unreadable(top, reason)]
    if not root.is_dir():
        if root.exists() or root.is_symlink():
            unreadable.append(Unreadable(top, "not a readable folder"))
        return [], unreadable

    def failed(exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            return  # removed while walking (prune, a seal's rename): gone, not unreadable
        reason = f"cannot be read: {exc.strerror or exc}"
        unreadable.append(Unreadable(_rel(data_dir, exc.filename or root), reason))

    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=failed):
        for name in dirnames:
            folder = Path(dirpath) / name
            if folder.is_symlink():
                reason = escape(data_dir, folder)
                if reason is not None:
                    unreadable.append(Unreadable(_rel(data_dir, folder), reason))
        for name in filenames:
            if not name.endswith(suffix) or name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_symlink():
                reason = escape(data_dir, path)
                if reason is not None:
                    unreadable.append(Unreadable(_rel(data_dir, path), reason))
                    continue
            found.append(path)
    return sorted(found), sorted(unreadable, key=lambda u: u.path)


def merge(*groups: list[Unreadable]) -> list[Unreadable]:
    """The unreadable of several walks, each path once, in path order."""
    seen: dict[str, Unreadable] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item.path, item)
    return [seen[key] for key in sorted(seen)]
