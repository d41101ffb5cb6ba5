"""Tolerant looks at a data folder for reports (``orderbooks status``, ``orderbooks quality``).

Reports must describe any folder, also a damaged one, so nothing here raises
for a file that cannot be read: it is skipped, or None. File manifests come
back as written (a JSON object), not validated: ``sealed.load_file_manifest``
is the strict reader that upload, prune and verify trust.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from orderbooks.store import paths, walk


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        document = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return document if isinstance(document, dict) else None


def manifest_beside(data_file: Path) -> dict[str, Any] | None:
    """The file manifest beside *data_file* (sealed or ``.partial``) as written; None when it is
    missing, unreadable or not a JSON object. ValueError for a name that is no data file's."""
    return _json_object(paths.manifest_path_for(data_file))


def book_manifests(data_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(path, document as written) of every readable file manifest under DATA_DIR/raw, in path order."""
    for manifest_path in paths.iter_files(data_dir, paths.MANIFEST_SUFFIX):
        document = _json_object(manifest_path)
        if document is not None:
            yield manifest_path, document


def modified_ms(path: Path) -> int:
    """The file's modification time in epoch ms (OSError is the caller's)."""
    return int(os.stat(path).st_mtime * 1000)


def file_size(path: Path) -> int:
    """The file's size in bytes (OSError is the caller's)."""
    return os.stat(path).st_size


def data_file_stats(data_dir: Path) -> Iterator[tuple[float, int]]:
    """(mtime in epoch seconds, size) of every sealed data file under DATA_DIR/raw; a file that
    vanished or cannot be stat'ed is skipped."""
    for path in paths.iter_files(data_dir, paths.DATA_SUFFIX):
        try:
            st = path.stat()
        except OSError:
            continue
        yield st.st_mtime, st.st_size


def unreadable(data_dir: Path) -> list[walk.Unreadable]:
    """Every folder, link or file under DATA_DIR/raw and DATA_DIR/markets that cannot be read:
    a folder that cannot be listed, a symbolic link leading out of the data folder, a file
    this user may not read (``walk.walk_files``); each path once, in path order."""
    groups: list[list[walk.Unreadable]] = []
    for top in (paths.RAW_DIR, paths.MARKETS_DIR):
        files, bad = walk.walk_files(data_dir, "", top=top)
        groups.append(bad)
        groups.append(
            [
                walk.Unreadable(paths.relative(data_dir, f), "cannot be read: permission denied")
                for f in files
                # a file that vanished meanwhile (prune, a seal's rename) is gone, not unreadable
                if not os.access(f, os.R_OK) and os.path.lexists(f)
            ]
        )
    return walk.merge(*groups)


def partials(data_dir: Path) -> list[Path]:
    """The open (or crashed) book files ``raw/.../*.jsonl.gz.partial``, in path order."""
    return walk.walk_files(data_dir, paths.PARTIAL_SUFFIX)[0]
