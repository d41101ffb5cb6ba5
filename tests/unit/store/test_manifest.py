"""manifest: row statistics, gap merging, atomic writes that leave nothing behind."""

from __future__ import annotations

import json
import os

import pytest
from orderbooks.records import FailureRecord
from orderbooks.store import manifest


def test_row_stats_min_max_and_counters():
    stats = manifest.RowStats()
    for recv_ms, token, series in [(30, "a", "s1"), (10, "b", "s1"), (20, "a", None)]:
        stats.add_row({"recv_ms": recv_ms, "token_id": token, "series": series, "cycle": recv_ms // 10})
    assert (stats.rows, stats.first_recv_ms, stats.last_recv_ms) == (3, 10, 30)
    assert stats.per_token == {"a": 2, "b": 1}
    assert stats.per_series == {"s1": 2, "unknown": 1}
    assert stats.cycles == {1, 2, 3}


def test_gaps_merge_consecutive_records_of_one_cause():
    log = manifest.FailureLog()
    for t_ms, cause in [
        (0, "timeout"),
        (1000, "timeout"),
        (2000, "reset"),
        (3000, "timeout"),
        (3500, "timeout"),
    ]:
        log.add(FailureRecord(t_ms=t_ms, cycle=None, error=cause, message="x"))
    log.add(FailureRecord(t_ms=3500 + manifest.GAP_MERGE_MS + 1, cycle=None, error="timeout", message="x"))
    assert [(g["cause"], g["start_ms"], g["end_ms"], g["count"]) for g in log.gaps.gaps] == [
        ("timeout", 0, 1000, 2),
        ("reset", 2000, 2000, 1),
        ("timeout", 3000, 3500, 2),
        ("timeout", 63501, 63501, 1),
    ]
    assert log.by_class == {"timeout": 5, "reset": 1}


def test_write_manifest_is_atomic_and_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.manifest.json"
    manifest.write_manifest(target, {"schema": 1, "rows": 1})
    before = target.read_bytes()

    def boom(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        manifest.write_manifest(target, {"schema": 1, "rows": 2})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.manifest.json"]
    assert json.loads(before)["rows"] == 1
    assert oct(target.stat().st_mode & 0o777) == oct(manifest.MANIFEST_MODE)


def test_run_lock_is_exclusive(tmp_path):
    (tmp_path / "runs").mkdir()
    lock = manifest.RunLock(manifest.run_lock_path(tmp_path, "r1"))
    with pytest.raises(BlockingIOError):
        manifest.RunLock(manifest.run_lock_path(tmp_path, "r1"))
    lock.release()
    assert not manifest.run_lock_path(tmp_path, "r1").exists()
    assert manifest.run_is_live(tmp_path, "r1") is False
