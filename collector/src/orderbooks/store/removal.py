"""Deleting from the data folder, durably: the one place prune's decisions
become unlinks.

``delete_durably`` removes one file and fsyncs its folder, so a crash right
after cannot bring the file back. ``remove_empty_folders`` removes a period's
folder and its parent when they are empty, never the kind's top folder.
``present`` is the existence check prune's facts use. What to delete is
``offload.policy``'s decision, never this module's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from orderbooks.store.atomic import fsync_dir


def present(path: Path) -> bool:
    """True when *path* exists (a file, or anything else by that name)."""
    return path.exists()


def delete_durably(path: Path) -> None:
    """Unlink *path* and fsync its folder (OSError is the caller's)."""
    os.unlink(path)
    fsync_dir(path.parent)


def remove_empty_folders(top: Path, period_dir: Path) -> list[Path]:
    """Remove *period_dir* and its parent when empty, never *top* nor a folder outside it; the
    folders removed, in order."""
    removed = []
    for folder in (period_dir, period_dir.parent):
        if folder == top or top not in folder.parents:
            continue
        with contextlib.suppress(OSError):  # not empty (or already gone): keep it
            folder.rmdir()
            fsync_dir(folder.parent)
            removed.append(folder)
    return removed
