"""The data folder as a whole: is a path one, can the collector write in it, does it hold data.

Commands ask these before they start (``orderbooks status DIR`` on a path that
is no folder, ``orderbooks merge`` into a folder that already holds data,
``orderbooks collect`` with a data folder it cannot write); nothing outside
store/ probes the file system for them.
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
