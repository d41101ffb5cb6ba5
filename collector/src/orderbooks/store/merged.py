"""Writing a derived data folder (``orderbooks merge``): its hour files and their manifests.

A merged folder is an ordinary data folder, so its files are written the way
the collector writes its own: a ``.partial`` created in the hour's folder
(mode 0640, folders created durably), gzip members appended, fsynced, then the
file manifest written beside it and the ``.partial`` renamed to its final name
(``HourFileWriter``). ``quality.merge`` decides which rows go into which hour;
its run manifest is written by ``run_manifests.write``.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

from orderbooks.store import gzmembers, manifest, paths
from orderbooks.store.atomic import DATA_MODE, durable_rename, make_dirs_durable, write_all
from orderbooks.store.hashing import FileHashes, hash_file


class HourFileWriter:
    """One hour file of a derived folder; ``with`` it to write members, then ``seal`` it.

    Entering creates the ``.partial`` (never over an existing one); leaving
    fsyncs it (when no exception is under way) and closes it. A ``.partial``
    left by an exception stays, as the collector's would."""

    def __init__(self, data_dir: Path, hour: paths.HourKey, run_id: str) -> None:
        self.data_dir = Path(data_dir)
        self.final = paths.data_path(self.data_dir, hour, run_id)
        self.partial = paths.partial_path(self.data_dir, hour, run_id)
        self._fd: int | None = None
        make_dirs_durable(self.partial.parent)

    def __enter__(self) -> HourFileWriter:
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DATA_MODE)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        assert fd is not None
        try:
            if exc_type is None:
                os.fsync(fd)
        finally:
            os.close(fd)

    def write_member(self, lines: list[bytes]) -> None:
        """Append *lines* (each ending in a newline) as one gzip member."""
        assert self._fd is not None, "write_member outside 'with'"
        write_all(self._fd, gzmembers.compress_member(b"".join(lines)))

    def hashes(self) -> FileHashes:
        """Size and digests of the written ``.partial`` (for its manifest)."""
        return hash_file(self.partial)

    def seal(self, file_manifest: dict[str, Any]) -> None:
        """Write *file_manifest* beside the file, then rename the ``.partial`` to its final name."""
        manifest.write_manifest(paths.manifest_path_for(self.final), file_manifest)
        durable_rename(self.partial, self.final)
