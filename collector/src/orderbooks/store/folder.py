"""The data folder as a whole: is a path one, can the collector write in it, does it hold data.

Commands ask these before they start (``orderbooks status DIR`` on a path that
is no folder, ``orderbooks merge`` into a folder that already holds data,
``orderbooks collect`` with a data folder it cannot write); nothing outside
store/ probes the file system for them.

What is a data folder (``not_a_data_folder``): a readable folder holding at
least one of the folders only a data folder holds (``MARKERS``: raw/,
markets/, runs/, state/, uploads/, quarantine/), or holding nothing at all yet
(hidden files and lost+found aside: a data folder provisioned before the
collector's first start). A collector creates runs/ and state/ when it starts,
so a just-started collector's folder is one before its first file is sealed. A
folder with other things in it but none of those, such as the folder one level
above a data folder, is not, and the commands that read a data folder refuse
it rather than report "OK" about nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from orderbooks.config import ConfigError
from orderbooks.exitcodes import ExitCode
from orderbooks.store import paths


def is_folder(path: str | os.PathLike[str]) -> bool:
    """True when *path* is a folder (following links)."""
    return Path(path).is_dir()


def is_readable_folder(path: str | os.PathLike[str]) -> bool:
    """True when *path* is a folder this process may list and enter."""
    return Path(path).is_dir() and os.access(path, os.R_OK | os.X_OK)


#: The folders only a data folder holds; a folder with none of them is not a data folder.
MARKERS = (
    paths.RAW_DIR,
    paths.MARKETS_DIR,
    paths.RUNS_DIR,
    paths.STATE_DIR,
    paths.UPLOADS_DIR,
    paths.QUARANTINE_DIR,
)


#: Entries that do not make a folder "something else than a data folder" (a file system's own).
_IGNORED = frozenset({"lost+found"})


def _has_marker(path: Path) -> bool:
    return any((path / name).is_dir() for name in MARKERS)


def not_a_data_folder(path: str | os.PathLike[str]) -> str | None:
    """Why *path* is not a data folder, in one sentence naming what was expected; None when it is one.

    When exactly one of its child folders is a data folder, the sentence suggests it."""
    path = Path(path)
    if not path.exists():
        return f"{path} is not a readable folder: it does not exist"
    if not path.is_dir():
        return f"{path} is not a readable folder: it is not a folder"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{path} is not a readable folder: permission denied"
    try:
        if _has_marker(path):
            return None
        entries = [e for e in path.iterdir() if not e.name.startswith(".") and e.name not in _IGNORED]
        if not entries:
            return None  # nothing written yet: a data folder before the collector's first start
        children = sorted(e for e in entries if e.is_dir())
    except PermissionError:
        return f"{path} is not a readable folder: permission denied"
    expected = ", ".join(f"{name}/" for name in MARKERS[:-1]) + f" or {MARKERS[-1]}/"
    message = f"{path} is not a data folder: no {expected} in it"
    candidates = [c for c in children if _readable_marker(c)]
    if len(candidates) == 1:
        message += f" (did you mean {candidates[0]}?)"
    return message


def _readable_marker(path: Path) -> bool:
    try:
        return os.access(path, os.R_OK | os.X_OK) and _has_marker(path)
    except OSError:
        return False


def holds_sealed_files(path: str | os.PathLike[str]) -> bool:
    """True when *path* holds at least one sealed data file of any kind (books or market documents)."""
    for top, suffix in ((paths.RAW_DIR, paths.DATA_SUFFIX), (paths.MARKETS_DIR, paths.DATA_SUFFIX)):
        root = Path(path) / top
        for _dirpath, _dirs, names in os.walk(root):
            if any(name.endswith(suffix) and not name.startswith(".") for name in names):
                return True
    return False


def same_or_inside(inner: str | os.PathLike[str], outer: str | os.PathLike[str]) -> bool:
    """True when *inner* is *outer* or lies inside it, after resolving links and relative paths."""
    inner_real, outer_real = Path(inner).resolve(), Path(outer).resolve()
    return inner_real == outer_real or inner_real.is_relative_to(outer_real)


def holds_data(path: str | os.PathLike[str]) -> bool:
    """True when *path* already holds a data folder's files (DATA_DIR/raw or DATA_DIR/runs)."""
    return (Path(path) / paths.RAW_DIR).exists() or (Path(path) / paths.RUNS_DIR).exists()


def check_data_dir(data_dir: str | os.PathLike[str]) -> None:
    """Create *data_dir* if needed and prove it is writable (ConfigError, ENVIRONMENT, otherwise).

    The proof creates and removes a hidden temporary file (``.write-probe.*.tmp``)."""
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            raise NotADirectoryError(f"not a directory: {path}")
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"data dir {str(path)!r} is not writable: {reason}", ExitCode.ENVIRONMENT) from None
