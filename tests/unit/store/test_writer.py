"""SnapshotWriter: member per flush, hourly seal, manifests, run manifest, disk trouble."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest
from orderbooks.records import CycleResult, FailureRecord
from orderbooks.store import gzmembers, paths
from orderbooks.store.diskspace import free_bytes
from orderbooks.store.verify import verify_data_dir
from testkit.fake_clock import FakeClock
from testkit.tmpfs import mounted_tmpfs
from testkit.writers import PLENTY, new_writer
from testkit.writers import sample_row as make_row

HOUR_MS = 3_600_000
T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR_MS)  # 2023-11-14T22:00:00Z


def cycle_result(clock: FakeClock, cycle: int, tokens=("t1", "t2"), **kw) -> CycleResult:
    rows = [make_row(cycle, t, clock.wall_ms()) for t in tokens]
    return CycleResult(cycle=cycle, started_ms=clock.wall_ms(), rows=rows, **kw)


def sealed_files(data_dir: Path) -> list[Path]:
    return paths.iter_files(data_dir, paths.DATA_SUFFIX)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_each_cycle_appends_one_fsynced_member(tmp_path, monkeypatch):
    clock = FakeClock(wall_ms=T0 + 1000)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    writer = new_writer(tmp_path, clock)
    for cycle in range(3):
        synced.clear()
        writer.write_cycle(cycle_result(clock, cycle))
        partial = writer.open_partial
        assert partial is not None and partial.name.endswith(".jsonl.gz.partial")
        assert synced, "the member was not fsynced"
        result = gzmembers.scan(partial)
        assert result.clean and result.members == cycle + 1
        clock.advance(1)
    writer.close("stop")
    [data] = sealed_files(tmp_path)
    lines = gzip.decompress(data.read_bytes()).splitlines()
    assert len(lines) == 6
    assert json.loads(lines[0])["token_id"] == "t1"


def test_seal_writes_consistent_manifest_and_run_manifest(tmp_path):
    clock = FakeClock(wall_ms=T0 + 5000)
    writer = new_writer(tmp_path, clock, run_info={"argv": ["collect"]})
    writer.write_cycle(cycle_result(clock, 1))
    clock.advance(2)
    failure = FailureRecord(t_ms=clock.wall_ms(), cycle=2, error="timeout", message="read timeout")
    writer.write_cycle(cycle_result(clock, 2, tokens=("t1",), failures=[failure], ok=False))
    writer.close("signal:SIGTERM")

    [data] = sealed_files(tmp_path)
    assert data.name == "orderbooks-2023-11-14T22Z-20231114T220000Z-aaaaaa.jsonl.gz"
    assert data.parent == tmp_path / "raw" / "2023-11-14" / "22"
    man = load(paths.manifest_path_for(data))
    raw = data.read_bytes()
    assert man["schema"] == 1 and man["kind"] == "orderbooks.file"
    assert man["bytes"] == len(raw)
    assert man["sha256"] == hashlib.sha256(raw).hexdigest()
    assert man["md5"] == hashlib.md5(raw).hexdigest()
    assert man["rows"] == 3 and man["members"] == 2
    assert man["rows_per_token"] == {"t1": 2, "t2": 1}
    assert man["rows_per_series"] == {"s-5m": 3}
    assert man["first_recv_ms"] == T0 + 5000 and man["last_recv_ms"] == T0 + 7000
    assert (man["cycles_ok"], man["cycles_failed"]) == (1, 1)
    assert man["gaps"] == [{"start_ms": T0 + 7000, "end_ms": T0 + 7000, "cause": "timeout", "count": 1}]
    assert man["failures"][0]["message"] == "read timeout"
    assert man["recovered"] is False and man["rebuilt"] is False and man["bytes_dropped"] == 0
    assert man["path"] == "raw/2023-11-14/22/" + data.name
    assert man["run_id"] == "20231114T220000Z-aaaaaa" and man["hour"] == "2023-11-14T22Z"

    run = load(tmp_path / "runs" / "20231114T220000Z-aaaaaa.json")
    assert run["exit_reason"] == "signal:SIGTERM" and run["end"] == T0 + 7000
    assert run["files"] == [
        {"path": man["path"], "sha256": man["sha256"], "bytes": man["bytes"], "rows": 3, "recovered": False}
    ]
    assert run["totals"]["rows"] == 3
    assert run["totals"]["failures_by_class"] == {"timeout": 1}
    assert run["run_info"] == {"argv": ["collect"]}
    assert not (tmp_path / "runs" / "20231114T220000Z-aaaaaa.lock").exists()
    assert verify_data_dir(tmp_path)["ok"]


def test_hour_rotation_exactly_at_the_boundary(tmp_path):
    clock = FakeClock(wall_ms=T0 + HOUR_MS - 1)  # 22:59:59.999
    writer = new_writer(tmp_path, clock)
    writer.write_cycle(cycle_result(clock, 1))
    first_partial = writer.open_partial
    assert not sealed_files(tmp_path)
    clock.advance(0.001)  # 23:00:00.000 exactly
    writer.write_cycle(cycle_result(clock, 2))
    [sealed] = sealed_files(tmp_path)
    assert sealed.name.startswith("orderbooks-2023-11-14T22Z-")
    assert not first_partial.exists()
    assert writer.open_partial.name.startswith("orderbooks-2023-11-14T23Z-")
    assert writer.open_partial.parent == tmp_path / "raw" / "2023-11-14" / "23"
    man = load(paths.manifest_path_for(sealed))
    assert man["last_recv_ms"] == T0 + HOUR_MS - 1
    # the run manifest is updated as soon as the file seals
    run = load(tmp_path / "runs" / "20231114T220000Z-aaaaaa.json")
    assert [f["path"] for f in run["files"]] == [man["path"]] and run["exit_reason"] is None
    writer.close("stop")
    assert len(sealed_files(tmp_path)) == 2


def test_clock_stepping_back_never_reopens_a_sealed_file(tmp_path):
    clock = FakeClock(wall_ms=T0 + HOUR_MS + 10)
    writer = new_writer(tmp_path, clock)
    writer.write_cycle(cycle_result(clock, 1))
    clock.advance(-20)  # back into the previous hour
    writer.write_cycle(cycle_result(clock, 2))
    writer.close("stop")
    [sealed] = sealed_files(tmp_path)
    assert load(paths.manifest_path_for(sealed))["rows"] == 4


def test_two_runs_in_one_hour_never_share_a_file(tmp_path):
    clock = FakeClock(wall_ms=T0 + 1000)
    first = new_writer(tmp_path, clock, run_id="20231114T220001Z-111111")
    first.write_cycle(cycle_result(clock, 1))
    first.close("stop")
    second = new_writer(tmp_path, clock, run_id="20231114T220001Z-222222")
    second.write_cycle(cycle_result(clock, 1))
    second.close("stop")
    files = sealed_files(tmp_path)
    assert len(files) == 2 and files[0].parent == files[1].parent
    assert all(load(paths.manifest_path_for(f))["rows"] == 2 for f in files)


def test_flush_rows_batches_cycles_into_one_member(tmp_path):
    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tmp_path, clock, flush_rows=5)
    writer.write_cycle(cycle_result(clock, 1))  # 2 rows buffered
    assert writer.open_partial is None
    writer.write_cycle(cycle_result(clock, 2))  # 4
    writer.write_cycle(cycle_result(clock, 3))  # 6 -> flush
    assert gzmembers.scan(writer.open_partial).members == 1
    writer.write_cycle(cycle_result(clock, 4))  # 2 buffered, flushed by close
    writer.close("stop")
    [sealed] = sealed_files(tmp_path)
    man = load(paths.manifest_path_for(sealed))
    assert (man["rows"], man["members"]) == (8, 2)


def test_flush_seconds(tmp_path):
    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tmp_path, clock, flush_seconds=10)
    writer.write_cycle(cycle_result(clock, 1))
    clock.advance(5)
    writer.write_cycle(cycle_result(clock, 2))
    assert writer.open_partial is None
    clock.advance(5)
    writer.write_cycle(cycle_result(clock, 3))
    assert gzmembers.scan(writer.open_partial).members == 1
    writer.close("stop")


def test_hour_without_rows_still_seals_its_gaps(tmp_path):
    clock = FakeClock(wall_ms=T0 + 10)
    writer = new_writer(tmp_path, clock)
    writer.record_failures([FailureRecord(t_ms=T0 + 10, cycle=None, error="discovery", message="gamma 503")])
    writer.write_cycle(CycleResult(cycle=1, started_ms=T0 + 10, rows=[], ok=False))
    writer.close("stop")
    [sealed] = sealed_files(tmp_path)
    assert sealed.stat().st_size == 0
    man = load(paths.manifest_path_for(sealed))
    assert man["rows"] == 0 and man["cycles_failed"] == 1 and man["gaps"][0]["cause"] == "discovery"
    assert verify_data_dir(tmp_path)["ok"]


def test_idle_writer_leaves_no_data_file(tmp_path):
    writer = new_writer(tmp_path, FakeClock(wall_ms=T0))
    writer.close("stop")
    writer.close("stop")  # idempotent
    assert not sealed_files(tmp_path)
    assert load(next((tmp_path / "runs").glob("*.json")))["exit_reason"] == "stop"


def test_enospc_mid_flush_cuts_back_to_last_member_and_resumes(tmp_path):
    clock = FakeClock(wall_ms=T0)
    state = {"fail": False}

    def flaky_write(fd: int, data) -> int:
        if state["fail"]:
            os.write(fd, bytes(data[: len(data) // 2]))  # half a member reaches the file
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    writer = new_writer(tmp_path, clock, write_bytes=flaky_write)
    writer.write_cycle(cycle_result(clock, 1))
    good_size = writer.open_partial.stat().st_size
    state["fail"] = True
    clock.advance(1)
    writer.write_cycle(cycle_result(clock, 2))  # never raises
    assert writer.open_partial.stat().st_size == good_size
    assert gzmembers.scan(writer.open_partial).clean
    state["fail"] = False
    clock.advance(1)
    writer.write_cycle(cycle_result(clock, 3))
    writer.close("stop")
    [sealed] = sealed_files(tmp_path)
    man = load(paths.manifest_path_for(sealed))
    assert man["rows"] == 4 and man["members"] == 2
    assert {r["cycle"] for r in map(json.loads, gzip.decompress(sealed.read_bytes()).splitlines())} == {1, 3}
    assert [g["cause"] for g in man["gaps"]] == ["enospc"]
    assert "ENOSPC" in man["failures"][0]["message"]
    assert load(tmp_path / "runs" / f"{writer.run_id}.json")["totals"]["rows_not_written"] == 2
    assert verify_data_dir(tmp_path)["ok"]


def test_disk_floor_pauses_and_resumes_by_itself(tmp_path, capsys):
    clock = FakeClock(wall_ms=T0)
    free = {"bytes": PLENTY}
    writer = new_writer(tmp_path, clock, disk_floor_bytes=1 << 30, disk_probe=lambda _p: free["bytes"])
    writer.write_cycle(cycle_result(clock, 1))
    free["bytes"] = 100 << 20
    for cycle in (2, 3, 4):
        clock.advance(1)
        writer.write_cycle(cycle_result(clock, cycle))
    assert writer.paused
    assert gzmembers.scan(writer.open_partial).members == 1
    free["bytes"] = PLENTY
    clock.advance(1)
    writer.write_cycle(cycle_result(clock, 5))
    assert not writer.paused
    writer.close("stop")
    [sealed] = sealed_files(tmp_path)
    man = load(paths.manifest_path_for(sealed))
    assert man["rows"] == 4
    assert man["gaps"] == [{"start_ms": T0 + 1000, "end_ms": T0 + 3000, "cause": "disk_floor", "count": 3}]
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    loud = [entry for entry in logs if entry["event"] == "disk_floor_reached"]
    assert len(loud) == 1 and loud[0]["level"] == "error"
    assert any(entry["event"] == "disk_floor_cleared" for entry in logs)


def test_no_file_opens_below_the_floor(tmp_path):
    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tmp_path, clock, disk_probe=lambda _p: 0)
    writer.write_cycle(cycle_result(clock, 1))
    assert writer.open_partial is None
    assert not paths.iter_files(tmp_path, paths.PARTIAL_SUFFIX)
    writer.close("stop")


def test_failures_are_capped_in_the_manifest(tmp_path, monkeypatch):
    from orderbooks.store import manifest

    monkeypatch.setattr(manifest, "MAX_FAILURES", 3)
    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tmp_path, clock)
    failures = [FailureRecord(t_ms=T0 + i, cycle=1, error="missing_book", message="m") for i in range(5)]
    writer.write_cycle(cycle_result(clock, 1, failures=failures, ok=False))
    writer.close("stop")
    man = load(paths.manifest_path_for(sealed_files(tmp_path)[0]))
    assert len(man["failures"]) == 3 and man["failures_dropped"] == 2
    assert man["gaps"] == [{"start_ms": T0, "end_ms": T0 + 4, "cause": "missing_book", "count": 5}]


def test_live_writer_holds_its_run_lock(tmp_path):
    from orderbooks.store.manifest import run_is_live

    writer = new_writer(tmp_path, FakeClock(wall_ms=T0))
    assert run_is_live(tmp_path, writer.run_id) is True
    writer.close("stop")
    assert run_is_live(tmp_path, writer.run_id) is False


def test_invalid_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="compress_level"):
        new_writer(tmp_path, FakeClock(), compress_level=11)
    with pytest.raises(ValueError, match="flush_rows"):
        new_writer(tmp_path, FakeClock(), flush_rows=-1)


# ---------------------------------------------------------------- a real, small file system


@pytest.fixture
def tiny_fs(tmp_path):
    """A 1 MiB tmpfs: real ENOSPC and real statvfs numbers (needs root and mount); where it
    cannot be mounted, ENOSPC is covered by the injected-error test."""
    with mounted_tmpfs(tmp_path / "tiny", "1m") as mount_point:
        yield mount_point


def incompressible_cycle(clock: FakeClock, cycle: int, kib: int = 64) -> CycleResult:
    rows = [make_row(cycle, "t1", clock.wall_ms())]
    rows[0]["book"] = {"noise": os.urandom(kib * 512).hex()}
    return CycleResult(cycle=cycle, started_ms=clock.wall_ms(), rows=rows)


def test_real_enospc_on_a_full_tmpfs(tiny_fs):
    clock = FakeClock(wall_ms=T0)
    filler = tiny_fs / "filler"
    filler.write_bytes(b"\0" * (300 * 1024))
    writer = new_writer(tiny_fs, clock, disk_floor_bytes=0, disk_probe=free_bytes)  # the real disk
    cycle = 0
    while "enospc" not in writer.run_manifest["totals"]["failures_by_class"]:
        cycle += 1
        assert cycle < 100, "the 1 MiB file system never filled up"
        writer.write_cycle(incompressible_cycle(clock, cycle))  # never raises
        clock.advance(1)
    scan = gzmembers.scan(writer.open_partial)
    assert scan.clean and scan.members == cycle - 1  # cut back: no damaged member left
    assert writer.run_manifest["totals"]["rows"] == cycle - 1

    filler.unlink()  # an operator frees space: writing resumes by itself
    cycle += 1
    writer.write_cycle(incompressible_cycle(clock, cycle))
    assert writer.run_manifest["totals"]["rows"] == cycle - 1
    writer.close("stop")
    [sealed] = sealed_files(tiny_fs)
    man = load(paths.manifest_path_for(sealed))
    assert man["rows"] == cycle - 1 and [g["cause"] for g in man["gaps"]] == ["enospc"]
    summary = verify_data_dir(tiny_fs)
    assert summary["ok"], summary["problems"]


def test_real_floor_pause_and_resume_on_tmpfs(tiny_fs):
    clock = FakeClock(wall_ms=T0)
    writer = new_writer(tiny_fs, clock, disk_floor_bytes=512 * 1024, disk_probe=free_bytes)
    writer.write_cycle(incompressible_cycle(clock, 1, kib=16))
    filler = tiny_fs / "filler"
    filler.write_bytes(b"\0" * (700 * 1024))
    clock.advance(1)
    writer.write_cycle(incompressible_cycle(clock, 2, kib=16))
    assert writer.paused
    filler.unlink()
    clock.advance(1)
    writer.write_cycle(incompressible_cycle(clock, 3, kib=16))
    assert not writer.paused
    writer.close("stop")
    [sealed] = sealed_files(tiny_fs)
    man = load(paths.manifest_path_for(sealed))
    assert man["rows"] == 2 and [g["cause"] for g in man["gaps"]] == ["disk_floor"]
    assert verify_data_dir(tiny_fs)["ok"]


def test_failed_seal_is_retried_at_the_next_cycle(tmp_path, monkeypatch):
    from orderbooks.store import manifest

    clock = FakeClock(wall_ms=T0 + HOUR_MS - 1000)
    writer = new_writer(tmp_path, clock)
    writer.write_cycle(cycle_result(clock, 1))
    real_write = manifest.write_manifest
    calls = {"n": 0}

    def fail_twice(path, obj):  # the seal at the rotation and its retry at the end of that cycle
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, obj)

    monkeypatch.setattr(manifest, "write_manifest", fail_twice)
    clock.advance(1)  # next hour: the seal of 22Z fails, writing goes on in 23Z
    writer.write_cycle(cycle_result(clock, 2))
    assert len(paths.iter_files(tmp_path, paths.PARTIAL_SUFFIX)) == 2
    assert not sealed_files(tmp_path)
    clock.advance(1)
    writer.write_cycle(cycle_result(clock, 3))  # retried and sealed
    assert [f.name[:25] for f in sealed_files(tmp_path)] == ["orderbooks-2023-11-14T22Z"]
    writer.close("stop")
    assert len(sealed_files(tmp_path)) == 2
    assert verify_data_dir(tmp_path)["ok"]
