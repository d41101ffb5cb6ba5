"""What ``verify`` cannot see by checking the files it finds one by one.

Two things a walk over the files on disk misses:

* a sealed file that is gone together with its manifest: the run manifest
  (``runs/<run_id>.json``) that lists it is the only witness left
  (``missing_listed``). A listed file the upload ledger records as pruned
  (``prune``/``pruned``: deleted on purpose once verified on the remote) is
  not missing; every other listed file whose data file is not on disk is;
* a folder or file this process may not read: ``os.walk`` skips an unreadable
  folder without a word, so verify walks the folders it reads (raw/, markets/,
  runs/, quarantine/) itself and lists every folder it could not list and every
  file it opens (``FILE_TOPS``) that it may not read (``unreadable``), with the
  ledger when it exists. Quarantined files are only counted and sized, so only
  quarantine's folders are checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.store import ledger, paths

#: The folders verify walks; a folder it cannot list in one of them is reported.
READ_TOPS = (paths.RAW_DIR, paths.MARKETS_DIR, paths.RUNS_DIR, paths.QUARANTINE_DIR)
#: The folders whose files verify opens; a file it may not read in one of them is reported.
FILE_TOPS = (paths.RAW_DIR, paths.MARKETS_DIR, paths.RUNS_DIR)
#: Files verify opens (the rest, such as a run's lock file, are only probed or stat'ed).
_READ_SUFFIXES = (
    paths.DATA_SUFFIX,
    paths.PARTIAL_SUFFIX,
    paths.MANIFEST_SUFFIX,
    paths.FAILURES_SUFFIX,
    ".json",
)


@dataclass
class Reach:
    """What ``unreadable`` found: paths relative to DATA_DIR, each with why it could not be read."""

    unreadable: list[dict[str, str]] = field(default_factory=list)

    def add(self, data_dir: Path, path: str | os.PathLike[str], reason: str) -> None:
        rel = _relative(Path(data_dir), Path(path))
        if all(item["path"] != rel for item in self.unreadable):
            self.unreadable.append({"path": rel, "reason": reason})

    def covers(self, data_dir: Path, path: Path) -> bool:
        """True when *path* is an unreadable entry or lies inside an unreadable folder."""
        rel = paths.relative(data_dir, path)
        return any(rel == item["path"] or rel.startswith(item["path"] + "/") for item in self.unreadable)


def _relative(data_dir: Path, path: Path) -> str:
    for base, target in ((data_dir, path), (data_dir.absolute(), path.absolute())):
        try:
            return target.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)


def unreadable(data_dir: Path) -> Reach:
    """Every folder under READ_TOPS this process cannot list, and every file there it cannot read."""
    data_dir = Path(data_dir)
    reach = Reach()

    def on_error(exc: OSError) -> None:
        if isinstance(exc, PermissionError) and exc.filename is not None:
            reach.add(data_dir, Path(os.fsdecode(exc.filename)), exc.strerror or "permission denied")

    for top in READ_TOPS:
        root = data_dir / top
        if not root.exists():
            continue
        for dirpath, _dirs, names in os.walk(root, onerror=on_error):
            if top not in FILE_TOPS:
                continue
            for name in names:
                path = Path(dirpath) / name
                if name.endswith(_READ_SUFFIXES) and not os.access(path, os.R_OK):
                    reach.add(data_dir, path, "Permission denied")
    ledger_file = ledger.ledger_path(data_dir)
    if ledger_file.exists() and not os.access(ledger_file, os.R_OK):
        reach.add(data_dir, ledger_file, "Permission denied")
    reach.unreadable.sort(key=lambda item: item["path"])
    return reach


def pruned_paths(data_dir: Path) -> set[str]:
    """The paths the upload ledger records as pruned (``prune``/``pruned``).

    PermissionError is the caller's."""
    return {
        str(entry["path"])
        for entry in ledger.Ledger(data_dir).read().entries
        if entry.get("action") == ledger.ACTION_PRUNE
        and entry.get("outcome") == ledger.PRUNED
        and isinstance(entry.get("path"), str)
    }


def missing_listed(
    data_dir: Path, runs: list[tuple[str, list[dict[str, Any]]]], pruned: set[str]
) -> tuple[list[dict[str, str]], int]:
    """(listed files missing from disk, listed files the ledger says were pruned).

    *runs* holds (run manifest path relative to DATA_DIR, its ``files``) of every valid run manifest."""
    missing: list[dict[str, str]] = []
    pruned_count = 0
    for run_rel, files in runs:
        for entry in files:
            rel = entry.get("path")
            if not isinstance(rel, str) or not rel:
                continue
            data_file = Path(data_dir) / rel
            if data_file.exists():
                continue  # checked against its manifest with the other files
            if rel in pruned:
                pruned_count += 1
                continue
            manifest_left = paths.manifest_path_for(data_file).exists()
            where = "missing (its manifest is left)" if manifest_left else "missing"
            missing.append({"path": rel, "run": run_rel, "state": where})
    return missing, pruned_count
