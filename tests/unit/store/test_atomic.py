"""Atomic writes: the target is either old or new, never partial; no leftovers."""

import json
import os

import pytest
from orderbooks.store import atomic


def test_atomic_write_json_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "m.json"
    target.write_text("old")
    atomic.atomic_write_json(target, {"b": 1, "a": [1, 2]})
    assert json.loads(target.read_text()) == {"b": 1, "a": [1, 2]}
    assert list(tmp_path.iterdir()) == [target]
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)


def test_failed_write_keeps_old_target_and_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    target.write_text("old")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic.atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_durable_rename_across_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    src = tmp_path / "a" / "x"
    src.write_bytes(b"data")
    atomic.durable_rename(src, tmp_path / "b" / "x")
    assert not src.exists()
    assert (tmp_path / "b" / "x").read_bytes() == b"data"


def test_cut_durably_cuts_a_longer_file_and_leaves_a_shorter_one(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    atomic.cut_durably(path, 4)
    assert path.read_bytes() == b"0123"
    atomic.cut_durably(path, 8)  # never grows a file
    assert path.read_bytes() == b"0123"
