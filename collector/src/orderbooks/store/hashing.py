"""The one way a file's size and digests are computed: ``hash_file`` -> ``FileHashes``.

Manifests, verify, recovery, upload and prune all call ``hash_file`` and read
its named fields (``size``, ``sha256``, ``md5``), so no caller depends on an
order of values. ``hash_stream`` hashes any binary stream the same way (a
download through ``rclone cat``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

CHUNK = 1 << 20


class FileHashes(NamedTuple):
    size: int
    sha256: str
    md5: str

    def fields(self) -> dict[str, Any]:
        """The ``bytes``, ``sha256`` and ``md5`` fields of a manifest (and of what verify finds)."""
        return {"bytes": self.size, "sha256": self.sha256, "md5": self.md5}


class Hashed:
    """``bytes``, ``sha256`` and ``md5`` of something whose ``hashes`` are a FileHashes."""

    hashes: FileHashes

    @property
    def bytes(self) -> int:
        return self.hashes.size

    @property
    def sha256(self) -> str:
        return self.hashes.sha256

    @property
    def md5(self) -> str:
        return self.hashes.md5


def hash_stream(handle: BinaryIO, chunk_size: int = CHUNK) -> FileHashes:
    """Size, SHA-256 and MD5 of everything *handle* yields until EOF."""
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := handle.read(chunk_size):
        size += len(chunk)
        sha256.update(chunk)
        md5.update(chunk)
    return FileHashes(size, sha256.hexdigest(), md5.hexdigest())


def hash_file(path: Path) -> FileHashes:
    """Size, SHA-256 and MD5 of the file at *path*."""
    with open(path, "rb") as handle:
        return hash_stream(handle)
