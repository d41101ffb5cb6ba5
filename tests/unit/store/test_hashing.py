"""hashing: one helper, named fields (size, sha256, md5), the same digests for a file and a stream."""

from __future__ import annotations

import hashlib
import io

from orderbooks.store.hashing import FileHashes, hash_file, hash_stream


def test_hash_file_names_its_fields(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    got = hash_file(path)
    assert isinstance(got, FileHashes)
    assert got.size == 3
    assert got.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert got.md5 == "900150983cd24fb0d6963f7d28e17f72"


def test_stream_and_file_agree_across_chunk_boundaries(tmp_path):
    blob = bytes(range(256)) * 1000
    path = tmp_path / "blob"
    path.write_bytes(blob)
    streamed = hash_stream(io.BytesIO(blob), chunk_size=7)
    assert streamed == hash_file(path)
    assert streamed.md5 == hashlib.md5(blob, usedforsecurity=False).hexdigest()
    assert streamed.sha256 == hashlib.sha256(blob).hexdigest()


def test_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert hash_file(path) == FileHashes(0, hashlib.sha256(b"").hexdigest(), hashlib.md5(b"").hexdigest())
