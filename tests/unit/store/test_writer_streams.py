"""The per-series layout (member_cycles > 0): one sync-flushed stream per series and hour."""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
from pathlib import Path

from orderbooks.records import CycleResult
from orderbooks.store import gzmembers, paths
from orderbooks.store.recovery import recover
from orderbooks.store.verify import verify_data_dir
from orderbooks.store.writer import SnapshotWriter
from testkit.fake_clock import FakeClock
from testkit.writers import new_writer

T0 = 1_699_999_200_000  # 2023-11-14T22:00:00Z
RUN_ID = "20231114T220000Z-ffffff"
SERIES = ("10684", "10192")


def make_row(cycle: int, series: str, token: str, recv_ms: int) -> dict:
    return {
        "schema": 1,
        "recv_ms": recv_ms,
        "latency_ms": 5,
        "cycle": cycle,
        "series": series,
        "slug": f"btc-{series}",
        "condition_id": "0x1",
        "token_id": token,
        "outcome": "Up",
        "window_start": "2023-11-14T22:00:00Z",
        "window_end": "2023-11-14T22:15:00Z",
        "book": {"bids": [{"price": "0.4", "size": str(cycle)}], "asks": [{"price": "0.6", "size": "1"}]},
    }


def run(data_dir: Path, cycles: int, **kw) -> tuple[SnapshotWriter, FakeClock, list[dict]]:
    clock = FakeClock(wall_ms=T0 + 1000)
    writer = new_writer(data_dir, clock, RUN_ID, member_cycles=3, **kw)
    written = []
    for cycle in range(1, cycles + 1):
        rows = [make_row(cycle, s, f"{s}-{t}", clock.wall_ms()) for s in SERIES for t in ("up", "down")]
        written += rows
        writer.write_cycle(CycleResult(cycle=cycle, started_ms=clock.wall_ms(), rows=rows))
        clock.advance(1)
    return writer, clock, written


def series_file(data_dir: Path, series: str, suffix: str = paths.DATA_SUFFIX) -> Path:
    hour = paths.HourKey("2023-11-14", "22")
    return paths.hour_dir(data_dir, hour) / (paths.stem_for(hour, RUN_ID, series) + suffix)


def rows_in(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_each_series_gets_its_own_plain_gzip_file_with_members_every_n_cycles(tmp_path):
    writer, _clock, written = run(tmp_path, cycles=5)
    writer.close("stop")
    for series in SERIES:
        path = series_file(tmp_path, series)
        rows = rows_in(path)
        assert rows == [r for r in written if r["series"] == series]
        assert [r["recv_ms"] for r in rows] == sorted(r["recv_ms"] for r in rows)  # time order
        man = json.loads(paths.manifest_path_for(path).read_text())
        assert man["rows"] == 10 and man["members"] == 2 and man["bytes"] == path.stat().st_size
        assert gzmembers.scan(path).clean
    assert paths.STEM_RE.match(paths.stem_of(series_file(tmp_path, "10684")))["series"] == "10684"
    [own] = [p for p in paths.iter_files(tmp_path, paths.DATA_SUFFIX) if "-s" not in paths.stem_of(p)]
    assert gzip.decompress(own.read_bytes()) == b""  # valid gzip, so `zcat hour/*.jsonl.gz` reads the hour
    own_manifest = json.loads(paths.manifest_path_for(own).read_text())
    assert own_manifest["rows"] == 0 and own_manifest["cycles_ok"] == 5
    summary = verify_data_dir(tmp_path, strict=True)
    assert summary["ok"], summary["problems"]
    assert summary["counts"]["rows"] == len(written)


def test_a_crash_keeps_every_sync_flushed_cycle(tmp_path):
    live = tmp_path / "live"
    writer, _clock, written = run(live, cycles=5)  # member 1: cycles 1-3 (closed), member 2: 4-5 (open)
    image = tmp_path / "image"
    shutil.copytree(live, image, ignore=shutil.ignore_patterns("*.lock"))
    writer.close("stop")
    assert gzmembers.scan(series_file(image, "10684", paths.PARTIAL_SUFFIX)).tail_bytes > 0
    report = recover(image, now_ms=T0 + 60_000, collector_version="0.1.0", host="h2")
    assert report.rows_salvaged == 2 * 2 * len(SERIES)  # cycles 4-5, two tokens, each series
    for series in SERIES:
        path = series_file(image, series)
        assert rows_in(path) == [r for r in written if r["series"] == series]
        man = json.loads(paths.manifest_path_for(path).read_text())
        assert man["recovered"] is True and man["rows"] == 10 and man["rows_salvaged"] == 4
    assert verify_data_dir(image, strict=True)["ok"]


def test_a_failed_write_is_cut_back_and_the_stream_goes_on(tmp_path):
    failing = {"on": False}

    def write(fd: int, data: bytes) -> int:
        if failing["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    writer, clock, written = run(tmp_path, cycles=2, write_bytes=write)
    failing["on"] = True
    lost = [make_row(3, s, f"{s}-up", clock.wall_ms()) for s in SERIES]
    writer.write_cycle(CycleResult(cycle=3, started_ms=clock.wall_ms(), rows=lost))
    failing["on"] = False
    clock.advance(1)
    later = [make_row(4, s, f"{s}-up", clock.wall_ms()) for s in SERIES]
    writer.write_cycle(CycleResult(cycle=4, started_ms=clock.wall_ms(), rows=later))
    writer.close("stop")
    for series in SERIES:
        expected = [r for r in written + later if r["series"] == series]
        assert rows_in(series_file(tmp_path, series)) == expected
    assert writer.run_manifest["totals"]["rows_not_written"] == len(lost)
    assert verify_data_dir(tmp_path, strict=True)["ok"]
