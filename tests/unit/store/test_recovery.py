"""recover(): crashed partials cut to complete members and sealed, quarantine, rebuilt manifests."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import zlib
from pathlib import Path

import pytest
from orderbooks.records import CycleResult
from orderbooks.store import gzmembers, paths
from orderbooks.store.recovery import recover
from orderbooks.store.verify import verify_data_dir
from orderbooks.store.writer import SnapshotWriter
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z
RUN_ID = "20231114T220000Z-cccccc"
NOW = T0 + 600_000


def make_row(cycle: int, token: str, recv_ms: int) -> dict:
    return {
        "schema": 1,
        "recv_ms": recv_ms,
        "latency_ms": 5,
        "cycle": cycle,
        "series": "s-15m" if token == "t3" else "s-5m",
        "slug": "btc-updown",
        "condition_id": "0x1",
        "token_id": token,
        "outcome": "Up",
        "window_start": "2023-11-14T22:00:00Z",
        "window_end": "2023-11-14T22:15:00Z",
        "book": {"bids": [], "asks": [{"price": "0.6", "size": "1"}]},
    }


def crashed_run(tmp_path: Path, cycles: int = 3, tokens=("t1", "t3")) -> tuple[Path, SnapshotWriter]:
    """A data dir holding a live writer's partial after *cycles* flushed cycles (never closed)."""
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(tmp_path / "live", clock, RUN_ID)
    for cycle in range(1, cycles + 1):
        rows = [make_row(cycle, t, clock.wall_ms()) for t in tokens]
        writer.write_cycle(CycleResult(cycle=cycle, started_ms=clock.wall_ms(), rows=rows))
        clock.advance(1)
    return writer.open_partial, writer


def copy_crash_image(live_partial: Path, target: Path, data: bytes) -> Path:
    """What a SIGKILL or power loss leaves: the partial (maybe cut) and the unfinished run manifest."""
    live_dir = live_partial.parents[3]
    partial = target / live_partial.relative_to(live_dir)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(data)
    (target / "runs").mkdir()
    shutil.copy(live_dir / "runs" / f"{RUN_ID}.json", target / "runs" / f"{RUN_ID}.json")
    return partial


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


@pytest.fixture
def fast_fsync(monkeypatch):
    """This test recovers hundreds of images; durability itself is covered elsewhere."""
    monkeypatch.setattr(os, "fsync", lambda _fd: None)


def test_cut_at_every_offset_keeps_every_complete_member(tmp_path, fast_fsync):
    live_partial, _writer = crashed_run(tmp_path, cycles=3, tokens=("t1",))
    full = live_partial.read_bytes()
    ends = [m.end for m in gzmembers.iter_members(io.BytesIO(full))]
    all_rows = [json.loads(line) for line in gzip.decompress(full).splitlines()]
    assert len(ends) == 3
    for cut in range(len(full) + 1):
        image = tmp_path / f"cut{cut}"
        partial = copy_crash_image(live_partial, image, full[:cut])
        report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
        complete = sum(1 for end in ends if end <= cut)
        assert not partial.exists(), cut
        # A member cut near its end (in the trailer, CRC-32 and ISIZE) may already
        # decompress to the full row: recovery keeps it (each line checked), rewritten
        # as a complete member. Whether it does is asked of zlib directly here.
        start = ends[complete - 1] if complete else 0
        salvaged = 0
        if complete < len(ends):
            with contextlib.suppress(zlib.error):
                salvaged = int(b"\n" in zlib.decompressobj(31).decompress(full[start:cut]))
        if complete == 0 and not salvaged:
            assert len(report.quarantined) == 1, cut
            assert report.quarantined[0].read_bytes() == full[:cut]  # kept byte for byte
            assert report.quarantined[0] == image / "quarantine" / partial.relative_to(image / "raw")
            continue
        [sealed] = report.recovered
        kept = len(rows_of(sealed))
        assert kept == complete + salvaged, cut
        assert rows_of(sealed) == all_rows[:kept], cut
        man = json.loads(paths.manifest_path_for(sealed).read_text())
        assert man["recovered"] is True
        assert man["rows"] == kept and man["members"] == kept and man["rows_salvaged"] == kept - complete
        good_end = ends[complete - 1] if complete else 0
        if kept == complete:
            assert man["bytes"] == good_end
            assert man["bytes_dropped"] == cut - good_end
        else:
            assert man["bytes"] == sealed.stat().st_size > good_end
            assert 0 <= man["bytes_dropped"] <= cut - good_end
        assert man["gaps"] == [
            {"start_ms": all_rows[kept - 1]["recv_ms"], "end_ms": NOW, "cause": "restart", "count": 1}
        ]
        summary = verify_data_dir(image)
        assert summary["ok"], (cut, summary["problems"])
        assert summary["counts"]["recovered"] == 1
        shutil.rmtree(image)


def test_recovered_manifest_is_recomputed_from_kept_rows(tmp_path):
    live_partial, _writer = crashed_run(tmp_path, cycles=2, tokens=("t1", "t3"))
    full = live_partial.read_bytes()
    first_end = next(gzmembers.iter_members(io.BytesIO(full))).end
    image = tmp_path / "img"
    copy_crash_image(live_partial, image, full[: first_end + 10])
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    man = json.loads(paths.manifest_path_for(report.recovered[0]).read_text())
    assert man["rows_per_series"] == {"s-15m": 1, "s-5m": 1}
    assert man["rows_per_token"] == {"t1": 1, "t3": 1}
    assert man["first_recv_ms"] == man["last_recv_ms"] == T0 + 1000
    assert man["bytes_dropped"] == 10
    assert man["cycles_ok"] == 1
    run = json.loads((image / "runs" / f"{RUN_ID}.json").read_text())
    assert run["exit_reason"] == "crashed"
    assert run["closed_by_recovery"]["files_recovered"] == [man["path"]]
    assert run["files"][0]["recovered"] is True
    assert report.runs_closed == [RUN_ID]


def test_partial_of_a_live_run_is_left_alone(tmp_path):
    live_partial, writer = crashed_run(tmp_path)
    before = live_partial.read_bytes()
    report = recover(tmp_path / "live", now_ms=NOW, collector_version="0.1.0", host="h1")
    assert report.skipped_live == [live_partial]
    assert live_partial.read_bytes() == before
    assert report.runs_closed == []
    writer.close("stop")


def test_crash_between_manifest_and_rename_completes_the_seal(tmp_path):
    live_partial, writer = crashed_run(tmp_path)
    writer.close("stop")
    sealed = paths.iter_files(tmp_path / "live", paths.DATA_SUFFIX)[0]
    sealed.rename(live_partial)  # as if the rename never happened
    manifest_before = paths.manifest_path_for(sealed).read_bytes()
    report = recover(tmp_path / "live", now_ms=NOW, collector_version="0.1.0", host="h1")
    assert report.completed == [sealed] and not report.recovered
    assert paths.manifest_path_for(sealed).read_bytes() == manifest_before
    assert verify_data_dir(tmp_path / "live")["ok"]


def test_missing_manifest_is_rebuilt(tmp_path):
    _live_partial, writer = crashed_run(tmp_path)
    writer.close("stop")
    data_dir = tmp_path / "live"
    sealed = paths.iter_files(data_dir, paths.DATA_SUFFIX)[0]
    original = json.loads(paths.manifest_path_for(sealed).read_text())
    paths.manifest_path_for(sealed).unlink()
    assert not verify_data_dir(data_dir)["ok"]
    report = recover(data_dir, now_ms=NOW, collector_version="0.1.0", host="h1")
    assert report.rebuilt == [paths.manifest_path_for(sealed)]
    rebuilt = json.loads(paths.manifest_path_for(sealed).read_text())
    assert rebuilt["rebuilt"] is True and rebuilt["recovered"] is False
    for key in (
        "bytes",
        "sha256",
        "md5",
        "rows",
        "members",
        "rows_per_token",
        "first_recv_ms",
        "last_recv_ms",
    ):
        assert rebuilt[key] == original[key], key
    assert verify_data_dir(data_dir)["ok"]


def test_damaged_sealed_file_gets_no_rebuilt_manifest(tmp_path):
    _live_partial, writer = crashed_run(tmp_path)
    writer.close("stop")
    data_dir = tmp_path / "live"
    sealed = paths.iter_files(data_dir, paths.DATA_SUFFIX)[0]
    paths.manifest_path_for(sealed).unlink()
    with open(sealed, "ab") as handle:
        handle.write(b"\x1f\x8bjunk")
    report = recover(data_dir, now_ms=NOW, collector_version="0.1.0", host="h1")
    assert not report.rebuilt and "damaged" in report.problems[0]
    assert not verify_data_dir(data_dir)["ok"]


def test_stale_temp_files_are_removed_and_recovery_is_idempotent(tmp_path):
    live_partial, _writer = crashed_run(tmp_path)
    image = tmp_path / "img"
    partial = copy_crash_image(live_partial, image, live_partial.read_bytes())
    stray = partial.parent / f".{paths.stem_of(partial)}.manifest.json.abc123.tmp"
    stray.write_text("{")
    first = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    assert first.temp_removed == [stray] and not stray.exists()
    assert len(first.recovered) == 1 and first.bytes_dropped == 0
    snapshot = {p: p.read_bytes() for p in image.rglob("*") if p.is_file()}
    second = recover(image, now_ms=NOW + 1, collector_version="0.1.0", host="h2")
    assert second.to_dict() == recover(image, now_ms=NOW + 2, collector_version="0.1.0", host="h2").to_dict()
    assert not (second.recovered or second.quarantined or second.rebuilt or second.runs_closed)
    assert {p: p.read_bytes() for p in image.rglob("*") if p.is_file()} == snapshot


def test_recover_on_an_empty_or_missing_dir(tmp_path):
    report = recover(tmp_path / "nothing", now_ms=NOW, collector_version="0.1.0", host="h")
    assert report.to_dict()["recovered"] == [] and report.problems == []


def test_a_member_cut_after_sync_flushes_keeps_every_flushed_row(tmp_path, fast_fsync):
    """A partial ending in a member written cycle by cycle with Z_SYNC_FLUSH and never finished."""
    live_partial, _writer = crashed_run(tmp_path, cycles=2, tokens=("t1", "t3"))
    head = live_partial.read_bytes()
    stream = gzmembers.MemberStream()
    open_rows = [make_row(10 + i, "t1", T0 + 10_000 + i) for i in range(5)]
    tail = b"".join(stream.flush(json.dumps(row).encode() + b"\n") for row in open_rows)
    torn = gzmembers.compress_member(b"never flushed\n" * 50)[:40]  # a later write that did not finish
    image = tmp_path / "image"
    partial = copy_crash_image(live_partial, image, head + tail + torn)
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    [sealed] = report.recovered
    rows = rows_of(sealed)
    assert len(rows) == 4 + 5 and rows[4:] == open_rows
    man = json.loads(paths.manifest_path_for(sealed).read_text())
    assert man["rows"] == 9 and man["rows_salvaged"] == 5 and man["members"] == 3
    assert 0 < man["bytes_dropped"] <= len(tail) + len(torn) and report.rows_salvaged == 5
    assert gzip.decompress(sealed.read_bytes()).count(b"\n") == 9  # plain gzip, every member complete
    assert not partial.exists() and verify_data_dir(image, strict=True)["ok"]


def test_a_crash_while_rewriting_a_cut_member_loses_no_row(tmp_path, fast_fsync, monkeypatch):
    """Recovery never cuts the partial before its rows are safe in the rewritten one."""
    live_partial, _writer = crashed_run(tmp_path, cycles=1, tokens=("t1",))
    stream = gzmembers.MemberStream()
    rows = [make_row(5 + i, "t1", T0 + 5_000 + i) for i in range(3)]
    data = live_partial.read_bytes() + b"".join(stream.flush(json.dumps(r).encode() + b"\n") for r in rows)
    image = tmp_path / "image"
    partial = copy_crash_image(live_partial, image, data)

    def crash(*_args):
        raise OSError(5, "killed before the replace")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash)
        report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    assert report.problems and partial.read_bytes() == data  # untouched: the rows are still there
    report = recover(image, now_ms=NOW, collector_version="0.1.0", host="h2")
    [sealed] = report.recovered
    assert [r["cycle"] for r in rows_of(sealed)] == [1, 5, 6, 7]
